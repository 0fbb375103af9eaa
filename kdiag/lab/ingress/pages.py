"""The pages ingress-nginx's nginx answers by itself: reason phrases and error bodies."""

from __future__ import annotations

import email.utils

__all__ = ["HEADER_TOO_LARGE", "PLAIN_HTTP_ON_TLS", "REASONS", "error_page", "http_date"]


#: nginx's reason phrases for the statuses it generates itself.
REASONS: dict[int, str] = {
    301: "Moved Permanently",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    405: "Not Allowed",
    408: "Request Time-out",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    501: "Not Implemented",
    504: "Gateway Time-out",
    505: "HTTP Version Not Supported",
}


HEADER_TOO_LARGE = "Request Header Or Cookie Too Large"
PLAIN_HTTP_ON_TLS = "The plain HTTP request was sent to HTTPS port"


def error_page(status: int, *, header_too_large: bool = False, detail: str | None = None) -> bytes:
    """The body nginx sends for a status it generates (server_tokens off); `detail` is one of
    nginx's special 400 pages (e.g. PLAIN_HTTP_ON_TLS)."""
    title = f"{status} {REASONS.get(status, '')}".rstrip()
    if header_too_large:
        detail = HEADER_TOO_LARGE
    if detail:
        return (f"<html>\r\n<head><title>{status} {detail}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n<center>{detail}</center>\r\n"
                f"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            f"</body>\r\n</html>\r\n").encode()



def http_date() -> str:
    return email.utils.formatdate(usegmt=True)
