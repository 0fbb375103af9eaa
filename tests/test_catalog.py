"""The catalog is well-formed, covers DESIGN.md's ids, and its generated docs are fresh."""

from __future__ import annotations

from pathlib import Path

from kdiag.catalog import catalog, render_markdown

DESIGN_IDS = """
client-websocket-url-not-absolute client-websocket-mixed-content client-websocket-url-mismatch
ingress-no-address ingress-class-missing ingress-no-rule-matches ingress-backend-service-missing
ingress-backend-port-missing ingress-tls-secret-missing ingress-tls-certificate-mismatch
ingress-upgrade-not-forwarded ingress-websocket-timeout ingress-unknown-annotation
websocket-idle-disconnect service-selector-matches-no-pods service-target-port-mismatch
service-named-port-unresolved service-no-ready-endpoints service-nodeport-unreachable
service-session-affinity-needed pod-not-ready pod-crash-looping pod-image-pull-failed
pod-port-not-listening pod-websocket-rejected pod-http-error pod-readiness-probe-missing
pod-readiness-probe-tcp pod-no-graceful-shutdown pod-shell-entrypoint
manifest-removed-api-version manifest-unknown-field manifest-invalid
""".split()

ROOT = Path(__file__).resolve().parent.parent


def test_catalog_contains_every_design_id() -> None:
    missing = sorted(set(DESIGN_IDS) - set(catalog()))
    assert not missing, f"catalog lacks {missing}"


def test_every_check_is_complete() -> None:
    for c in catalog().values():
        assert c.hop in {"client", "edge", "ingress", "gateway", "service", "endpoints", "pod", "manifest", "source"}, c.id
        assert c.severity in {"error", "warning", "info"}, c.id
        assert len(c.explanation) > 60, f"{c.id}: explanation too thin for a newcomer"
        assert c.fix, c.id
        assert c.references, f"{c.id}: no references"


def test_every_check_has_a_rule_or_is_a_probe_check() -> None:
    from kdiag.rules import load_rules

    rules = load_rules()
    for c in catalog().values():
        if not c.probe:
            assert c.id in rules, f"{c.id}: static check without a rule"


def test_generated_catalog_docs_are_fresh() -> None:
    doc = ROOT / "checks" / "CATALOG.md"
    assert doc.read_text(encoding="utf-8") == render_markdown(), (
        "checks/CATALOG.md is stale: run `kdiag checks --format markdown > checks/CATALOG.md`"
    )


def test_catalog_scenarios_exist_and_scenarios_expect_catalog_checks() -> None:
    from kdiag.lab.scenarios import SCENARIOS

    for c in catalog().values():
        for name in (c.examples or {}).get("scenarios") or ():
            assert name in SCENARIOS, f"{c.id}: names lab scenario {name!r}, which does not exist"
    for sc in SCENARIOS.values():
        if sc.expect_check:
            assert sc.expect_check in catalog(), sc.name
            check = catalog()[sc.expect_check]
            # its own hop, or a failing hop it is declared to explain (e.g. an externalTrafficPolicy
            # Local controller Service breaks the `edge` hop)
            assert check.hop == sc.expect_hop or sc.expect_hop in check.explains \
                or sc.expect_check == "websocket-idle-disconnect", sc.name


def test_the_catalog_read_without_examples_equals_a_full_parse(tmp_path: Path) -> None:
    """`catalog()` leaves each file's final `examples:` block unparsed until it is used; every
    check must come out exactly as a full parse of its file makes it (examples included, also
    through `dataclasses.asdict`, which `kdiag checks -o json` prints)."""
    from dataclasses import asdict

    import yaml

    from kdiag.catalog import Check, LazyExamples, _load_check, catalog_dir

    lazy = 0
    for path in sorted(catalog_dir().glob("*.yaml")):
        full = Check.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        check = catalog()[path.stem]
        lazy += isinstance(check.examples, LazyExamples)
        assert check == full, path.name
        assert asdict(check) == asdict(full) and isinstance(asdict(check)["examples"], dict), path.name
    assert lazy == len(catalog()), "every check file ends with its examples: none should be parsed up front"
    odd = tmp_path / "odd-check.yaml"  # examples not last: the whole file is parsed at once
    odd.write_text("id: odd-check\nhop: pod\nseverity: info\ntitle: t\nexplanation: e\n"
                   "examples:\n  fires: [{name: a}]\nfix: f\nreferences: [x]\n")
    check = _load_check(odd)
    assert check.fix == "f" and dict(check.examples) == {"fires": [{"name": "a"}]}
    assert not isinstance(check.examples, LazyExamples)
