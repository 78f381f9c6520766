"""The CLI commands an operator uses to set up organizations and users."""

from models import Membership, Organization, Survey, User, db


def test_create_org_and_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-org", "Aarhus Kommune"])
    assert result.exit_code == 0 and "Aarhus Kommune" in result.output
    org = db.session.scalar(db.select(Organization).filter_by(name="Aarhus Kommune"))
    result = runner.invoke(
        args=[
            "create-user",
            "--email",
            "Ida@Example.dk",
            "--name",
            "Ida Ib",
            "--password",
            "pw-123456",
            "--org",
            str(org.id),
            "--role",
            "admin",
            "--department",
            "HR",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(db.select(User).filter_by(email="ida@example.dk"))
    assert user.check_password("pw-123456") and user.membership_in(org.id).is_admin
    again = runner.invoke(args=["create-user", "--email", "ida@example.dk", "--name", "X", "--password", "y"])
    assert again.exit_code != 0 and "exists already" in again.output
    missing = runner.invoke(
        args=["create-user", "--email", "new@example.dk", "--name", "X", "--password", "y", "--org", "999"]
    )
    assert missing.exit_code != 0 and "No organization" in missing.output
    assert db.session.scalar(db.select(User).filter_by(email="new@example.dk")) is None  # nothing half-saved


def test_seed_demo_twice_changes_nothing(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--members", "40"])
    assert first.exit_code == 0 and "admin@demo.postbud.dk / demo-admin-1234" in first.output

    def counts():
        return tuple(
            db.session.scalar(db.select(db.func.count()).select_from(m))
            for m in (Organization, User, Membership, Survey)
        )

    before = counts()
    assert before == (1, 42, 42, 3)
    assert runner.invoke(args=["seed-demo", "--members", "40"]).exit_code == 0
    assert counts() == before
    departments = set(db.session.scalars(db.select(Membership.department)))
    assert len(departments) > 3  # realistic variety for the filters
