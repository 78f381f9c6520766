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


def test_rotating_the_encryption_key_leaves_nothing_under_the_old_one(app, org, active_integration):
    """A new key first in ENCRYPTION_KEYS, the command, then the old key
    dropped: the API key and every recipient's CPR still decrypt."""
    from cryptography.fernet import Fernet

    from crypto import decrypt, encrypt
    from models.sharing import RecipientCpr, Share, ShareState

    share = Share(org_id=org.id, survey_id=_survey(org).id, state=ShareState.CONFIRMED)
    db.session.add(share)
    db.session.flush()
    cprs = [f"0101{i:02d}1234" for i in range(1, 8)]
    db.session.add_all(
        RecipientCpr(share_id=share.id, cpr_hmac=f"h{i}", cpr_encrypted=encrypt(c)) for i, c in enumerate(cprs)
    )
    db.session.commit()
    old = app.config["ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = f"{new},{old}"
    result = app.test_cli_runner().invoke(args=["rotate-encryption-key", "--batch", "3"])
    assert result.exit_code == 0 and "Re-encrypted 8 values" in result.output, result.output
    app.config["ENCRYPTION_KEYS"] = new  # the old key is gone
    db.session.expire_all()
    assert decrypt(db.session.get(type(active_integration), active_integration.id).api_key_encrypted)
    stored = db.session.scalars(db.select(RecipientCpr.cpr_encrypted).order_by(RecipientCpr.cpr_hmac)).all()
    assert sorted(decrypt(t) for t in stored) == sorted(cprs)


def _survey(org):
    from models.survey import SurveyState

    owner = db.session.scalar(db.select(Membership.user_id).filter_by(org_id=org.id))
    survey = Survey(org_id=org.id, owner_id=owner, title="Nøgler", state=SurveyState.OPEN)
    db.session.add(survey)
    db.session.flush()
    return survey


def test_rotating_the_encryption_key_takes_the_certificate_along(app, org, sf1601_integration):
    """An SF1601 integration's certificate is re-encrypted too, and its key
    still opens after the old encryption key is gone."""
    from cryptography.fernet import Fernet

    old = app.config["ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = f"{new},{old}"
    result = app.test_cli_runner().invoke(args=["rotate-encryption-key"])
    assert result.exit_code == 0 and "Re-encrypted 1 values" in result.output, result.output
    app.config["ENCRYPTION_KEYS"] = new
    db.session.expire_all()
    integration = db.session.get(type(sf1601_integration), sf1601_integration.id)
    assert integration.certificate.serial == sf1601_integration.certificate_serial
