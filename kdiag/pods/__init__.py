"""Pure helpers about pod specs and pod status (no I/O), one module per question.

- `kdiag.pods.spec`: what a pod spec declares: container ports, probes, grace period, preStop.
- `kdiag.pods.entrypoint`: whether PID 1 is a shell or script that may not pass SIGTERM on.
- `kdiag.pods.readiness`: the pod's Ready condition, endpoint counts of EndpointSlices.
- `kdiag.pods.selection`: which objects carry pod specs and which Services select them.
"""
