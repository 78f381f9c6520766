"""Members see Digital Post as a usable share option once they have access and
the integration is on; otherwise the card is greyed with who can grant it."""

from models import DigitalPostIntegration, Membership, Survey, db
from models.access import grant_access, revoke_access

GREYED = 'class="card card-disabled" id="share-digital-post" aria-disabled="true"'


def share_page(s, org, survey):
    return s.get(f"/orgs/{org.id}/surveys/{survey.id}/share")


def members_ids(member):
    return db.select(Membership.id).where(Membership.user_id == member.id)


def test_share_option_follows_access_and_the_integration(as_member, org, admin, member, active_integration):
    survey = Survey(org_id=org.id, owner_id=member.id, title="Trivsel i hjemmeplejen")
    db.session.add(survey)
    db.session.commit()
    page = share_page(as_member, org, survey).get_data(as_text=True)
    assert "Link" in page and GREYED in page and "kan give dig adgang" in page

    grant_access(org.id, admin.id, members_ids(member))
    db.session.commit()
    page = share_page(as_member, org, survey).get_data(as_text=True)
    assert 'id="share-digital-post"' in page and GREYED not in page

    integration = DigitalPostIntegration.find(org.id)
    integration.deactivate(admin.id)
    db.session.commit()
    page = share_page(as_member, org, survey).get_data(as_text=True)
    assert GREYED in page and "Digital Post er slået fra for din organisation" in page
    assert "kan give dig adgang" not in page  # no admin can, while it is off

    integration.state = "active"
    db.session.commit()
    revoke_access(org.id, admin.id, members_ids(member))
    db.session.commit()
    assert GREYED in share_page(as_member, org, survey).get_data(as_text=True)


def test_someone_elses_survey_is_404(as_member, org, admin):
    survey = Survey(org_id=org.id, owner_id=admin.id, title="Admins egen")
    db.session.add(survey)
    db.session.commit()
    assert share_page(as_member, org, survey).status_code == 404


def test_survey_list_links_to_sharing(as_member, org, member):
    survey = Survey(org_id=org.id, owner_id=member.id, title="Trivsel")
    db.session.add(survey)
    db.session.commit()
    page = as_member.get(f"/orgs/{org.id}/surveys/").get_data(as_text=True)
    assert f"/orgs/{org.id}/surveys/{survey.id}/share" in page
