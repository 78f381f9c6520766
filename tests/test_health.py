"""/healthz for load balancers: the process, then the database and Redis it
needs, and the worker and gateway a monitor watches."""

from rq import Worker

from extensions import get_queue, get_redis


def test_liveness_does_no_work(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"


def test_ready_reports_each_part_and_a_missing_worker_degrades(client, app, sandbox):
    body = client.get("/healthz/ready").get_json()
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["gateway"] == "ok"
    assert body["checks"]["worker"].startswith("failing") and body["status"] == "degraded"
    worker = Worker([get_queue(app)], connection=get_redis(app), name="health-test")
    worker.register_birth()
    worker.heartbeat()
    try:
        response = client.get("/healthz/ready")
        assert response.status_code == 200 and response.get_json() == {
            "status": "ok",
            "checks": {"database": "ok", "redis": "ok", "worker": "ok: 1", "gateway": "ok"},
        }
    finally:
        worker.register_death()


def test_ready_fails_without_redis_and_names_the_gateway_when_it_is_gone(client, app, redis_down):
    app.config["DIGITAL_POST_API_URL"] = "http://127.0.0.1:1"
    response = client.get("/healthz/ready")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "failing"
    assert body["checks"]["redis"].startswith("failing") and body["checks"]["database"] == "ok"
    assert body["checks"]["gateway"].startswith("failing")
