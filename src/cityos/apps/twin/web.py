"""The /twin page and its small JSON API: pick a scenario, run it in a worker thread (the
server stays responsive), poll for the result, download CSV / GeoJSON.

Who may run a scenario (`may_run`): development mode, an operator, or a caller with the
role `planner`. Reading results and the page itself is open to all."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import xstatic.pkg.leaflet as leaflet
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cityos.apps.twin.i18n import STRINGS
from cityos.apps.twin.inputs import load_inputs, twin_data_dir
from cityos.apps.twin.report import curve_csv, report_geojson, shelters_csv
from cityos.apps.twin.runs import (
    RUN_TYPE,
    compare_reports,
    load_report,
    run_scenario,
    store_run,
)
from cityos.apps.twin.scenario import ScenarioFile, load_scenario_file
from cityos.apps.twin.shelters import fetch_shelter_entities
from cityos.apps.twin.synthetic import kaga_boundary
from cityos.ngsild.errors import BadRequestData, Forbidden, ResourceNotFound, Unauthenticated
from cityos.plugins import Platform
from cityos.security.principal import Principal, principal_of

HERE = Path(__file__).parent
MAX_REMEMBERED_JOBS = 100
_executor: ThreadPoolExecutor | None = None
_jobs: dict[str, dict[str, Any]] = {}
_tasks: set[asyncio.Task[None]] = set()
_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                autoescape=True)


def may_run(principal: Principal) -> bool:
    """Running simulations costs CPU: development mode, operators and planners only."""
    return principal.kind in ("developer", "operator") or principal.has_role("planner")


def builtin_scenarios() -> dict[str, ScenarioFile]:
    folder = resources.files("cityos.apps.twin.scenarios")
    found = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            found[item.name.removesuffix(".toml")] = load_scenario_file(Path(str(item)))
    return found


def shutdown_runner() -> None:
    global _executor
    if _executor is not None:
        _executor.shutdown(wait=False, cancel_futures=True)
        _executor = None


def _runner() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin")
    return _executor


def twin_routes(platform: Platform) -> list[BaseRoute]:
    folder = twin_data_dir(platform.settings)

    async def page(request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else "ja"
        scenarios = {key: spec.scenario.name for key, spec in builtin_scenarios().items()}
        html = _templates.get_template("twin.html").render(
            lang=lang, t=STRINGS[lang], scenarios=scenarios,
            strings=json.dumps(STRINGS[lang], ensure_ascii=False))
        return Response(html, media_type="text/html; charset=utf-8")

    async def start(request: Request) -> Response:
        principal = principal_of(request.scope)
        if not may_run(principal):
            if principal.is_anonymous:
                raise Unauthenticated("running a simulation needs a signed-in planner")
            raise Forbidden("running a simulation needs the planner role or an operator")
        try:
            body = await request.json()
        except ValueError:
            raise BadRequestData("the body must be JSON: {\"scenario\": NAME}") from None
        scenarios = builtin_scenarios()
        name = body.get("scenario") if isinstance(body, dict) else None
        if name not in scenarios:
            raise BadRequestData(f"unknown scenario {name!r}; one of {', '.join(scenarios)}")
        run_uuid = str(uuid.uuid4())
        _forget_finished_jobs()
        _jobs[run_uuid] = {"status": "running"}
        task = asyncio.create_task(_run(platform, folder, scenarios[name], run_uuid))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        return JSONResponse({"id": run_uuid, "status": "running",
                             "href": f"/twin/api/runs/{run_uuid}"}, status_code=202)

    async def status(request: Request) -> Response:
        run_uuid = request.path_params["run"]
        job = _jobs.get(run_uuid)
        if job is not None and job["status"] != "done":
            return JSONResponse(job)
        report = load_report(folder, run_uuid)
        if report is None:
            raise ResourceNotFound(f"no simulation run {run_uuid}")
        return JSONResponse({"status": "done", "report": report})

    def _report(request: Request) -> dict[str, Any]:
        report = load_report(folder, request.path_params["run"])
        if report is None:
            raise ResourceNotFound(f"no simulation run {request.path_params['run']}")
        return report

    async def download_shelters(request: Request) -> Response:
        return _download(shelters_csv(_report(request)), "text/csv", "shelters.csv")

    async def download_curve(request: Request) -> Response:
        return _download(curve_csv(_report(request)), "text/csv", "curve.csv")

    async def download_geojson(request: Request) -> Response:
        body = json.dumps(report_geojson(_report(request)), ensure_ascii=False)
        return _download(body, "application/geo+json", "result.geojson")

    async def compare(request: Request) -> Response:
        reports = [load_report(folder, request.query_params.get(key, "")) for key in "ab"]
        if reports[0] is None or reports[1] is None:
            raise ResourceNotFound("compare needs two stored runs: ?a=UUID&b=UUID")
        return JSONResponse(compare_reports(reports[0], reports[1]))

    async def boundary(request: Request) -> Response:
        return JSONResponse({"type": "Polygon", "coordinates": [kaga_boundary().tolist()]})

    return [
        Route("/twin", page), Route("/twin/api/runs", start, methods=["POST"]),
        Route("/twin/api/runs/{run}", status),
        Route("/twin/api/runs/{run}/shelters.csv", download_shelters),
        Route("/twin/api/runs/{run}/curve.csv", download_curve),
        Route("/twin/api/runs/{run}/result.geojson", download_geojson),
        Route("/twin/api/compare", compare),
        Route("/twin/api/boundary", boundary),
        Mount("/twin/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR)),
        Mount("/twin/static", StaticFiles(directory=HERE / "static")),
    ]


def _forget_finished_jobs() -> None:
    """Finished runs are read from their report files; only the newest job states are
    kept in memory (the failed ones, whose detail exists nowhere else)."""
    finished = [key for key, job in _jobs.items() if job["status"] != "running"]
    for key in finished[:-MAX_REMEMBERED_JOBS]:
        del _jobs[key]


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=f"{media_type}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _run(platform: Platform, folder: Path, spec: ScenarioFile, run_uuid: str) -> None:
    try:
        entities = await fetch_shelter_entities(platform.entities)
        loop = asyncio.get_running_loop()
        report = await loop.run_in_executor(
            _runner(), lambda: run_scenario(load_inputs(folder, spec.scenario.hazard),
                                            entities, spec,
                                            run_id=f"urn:ngsi-ld:{RUN_TYPE}:{run_uuid}"))
        await store_run(platform.entities, folder, report)
        platform.counters.inc("cityos_twin_runs_total", "Evacuation simulations run",
                              hazard=spec.scenario.hazard)
        _jobs[run_uuid] = {"status": "done"}
    except Exception as exc:  # the page shows the failure instead of polling forever
        _jobs[run_uuid] = {"status": "failed", "detail": str(exc)}
        raise
