"""GET /api/health: this function answers, and whether Redis and MongoDB do (503 if not)."""

from api._http import create_app, endpoint
from lib.backends import backends
from lib.outcome import Outcome

app = create_app(__name__)


@app.get("/api/health")
@endpoint
def health() -> Outcome:
    links = backends().ping()
    checks = {name: "ok" if up else "unreachable" for name, up in links.items()}
    healthy = all(links.values())
    return Outcome(200 if healthy else 503, {"success": healthy, "checks": checks})
