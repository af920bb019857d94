"""Enrolments are limited per client address, by the ``enrol_limit`` setting (an office behind one
NAT enrolling many PCs raises it)."""

from gateway import create_app, ops


def _app(tmp_path, redis_server, prefix, limit):
    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "enrol_limit": limit})
    app.config["TESTING"] = True
    return app


def _codes(app, n):
    with app.app_context():
        return [ops.add_machine(f"pc-{i}")[1] for i in range(n)]


def test_the_limit_refuses_the_address_once_reached(tmp_path, redis_server, prefix):
    app = _app(tmp_path, redis_server, prefix, "3 per minute")
    client = app.test_client()
    answers = [client.post("/api/v1/enroll", json={"code": code}).status_code for code in _codes(app, 4)]
    assert answers == [201, 201, 201, 429]


def test_a_raised_limit_lets_an_office_enrol_its_pcs(tmp_path, redis_server, prefix):
    app = _app(tmp_path, redis_server, prefix, "100 per minute")
    client = app.test_client()
    assert all(client.post("/api/v1/enroll", json={"code": code}).status_code == 201 for code in _codes(app, 15))
