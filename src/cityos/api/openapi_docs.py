"""The OpenAPI document as one static HTML page at /docs (nothing loaded from elsewhere)."""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from cityos.api.openapi import Schema, openapi_document


def _operation_html(document: dict[str, Any], method: str, path: str, op: Schema) -> str:
    e, parts = html.escape, document["components"]

    def deref(kind: str, item: Schema) -> Schema:
        return parts[kind][item["$ref"].rsplit("/", 1)[1]] if "$ref" in item else item

    rows = "".join(f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
                   f"<td>{e(p['description'])}</td></tr>"
                   for p in (deref("parameters", r) for r in op["parameters"]))
    media = ", ".join(op.get("requestBody", {}).get("content", {}))
    codes = "".join(f"<li><code>{e(code)}</code> {e(deref('responses', r)['description'])}"
                    for code, r in op["responses"].items())
    return (f'<section><h3><span class="m {e(method)}">{e(method.upper())}</span> '
            f"<code>{e(path)}</code> — {e(op['summary'])}</h3>"
            f"<p>{e(op.get('description', ''))}</p>"
            + (f"<table>{rows}</table>" if rows else "")
            + (f"<p>Body: {e(media)}</p>" if media else "") + f"<ul>{codes}</ul></section>")


STYLE = ("body{font-family:sans-serif;max-width:70rem;margin:auto}table{border-collapse:"
         "collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.m{color:#fff;"
         "padding:0 6px;background:#27c}.get{background:#2a7}.delete{background:#c33}")
DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'"  # nothing loaded from elsewhere


@lru_cache(maxsize=1)
def docs_html() -> str:
    """The OpenAPI document as one static HTML page, operations grouped by tag."""
    document = openapi_document()
    e, info = html.escape, document["info"]
    sections = []
    for tag in document["tags"]:
        ops = [_operation_html(document, method, path, op)
               for path, item in document["paths"].items() for method, op in item.items()
               if tag["name"] in op["tags"]]
        sections.append(f"<h2>{e(tag['name'])}</h2>" + "".join(ops))
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{e(info['title'])}</title><style>{STYLE}</style></head><body><h1>"
            f"{e(info['title'])} <small>{e(info['version'])}</small></h1>"
            f"<p>{e(info['description'])}</p><p>Machine-readable: "
            f"<a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {document['openapi']}).</p>"
            + "".join(sections) + "</body></html>")


async def serve_docs(request: Request) -> Response:
    return HTMLResponse(docs_html(), headers={"Content-Security-Policy": DOCS_CSP})


routes = [Route("/docs", serve_docs, methods=["GET"])]
