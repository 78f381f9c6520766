"""A member's draft survey over HTTP with HTMX headers: questions are
checked at their field, and a survey stops growing at MAX_QUESTIONS."""

from models import Survey, db
from models.survey import MAX_QUESTIONS, QuestionKind, add_question


def draft(org, member):
    survey = Survey(org_id=org.id, owner_id=member.id, title="Trivsel")
    db.session.add(survey)
    db.session.commit()
    return survey


def post_question(as_member, survey, text, kind=QuestionKind.FREE_TEXT):
    return as_member.post(
        f"/orgs/{survey.org_id}/surveys/{survey.id}/questions", {"kind": kind, "text": text}, htmx=True
    )


def question_count(survey):
    db.session.expire_all()
    return len(db.session.get(Survey, survey.id).questions)


def test_an_empty_question_is_refused_at_its_field(as_member, org, member):
    survey = draft(org, member)
    response = post_question(as_member, survey, "   ")
    assert response.status_code == 422 and 'id="text-error"' in response.get_data(as_text=True)
    assert question_count(survey) == 0
    assert post_question(as_member, survey, "Hvad kan blive bedre?").status_code == 200
    assert question_count(survey) == 1


def test_a_full_survey_takes_no_more_questions_and_says_so_at_the_field(as_member, org, member):
    survey = draft(org, member)
    for i in range(MAX_QUESTIONS):
        add_question(survey, QuestionKind.FREE_TEXT, f"Spørgsmål {i}", [])
    db.session.commit()
    response = post_question(as_member, survey, "Ét til?")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and f"højst have {MAX_QUESTIONS} spørgsmål" in body
    assert 'id="text-error"' in body
    assert question_count(survey) == MAX_QUESTIONS


def test_the_hint_to_add_a_question_goes_with_the_first_and_comes_back_with_the_last(as_member, org, member):
    survey = draft(org, member)
    page = as_member.get(f"/orgs/{org.id}/surveys/{survey.id}/").get_data(as_text=True)
    assert '<p class="hint" id="open-hint">Tilføj mindst ét spørgsmål' in page
    added = post_question(as_member, survey, "Hvad kan blive bedre?").get_data(as_text=True)
    assert 'id="open-hint" hx-swap-oob="true" hidden>' in added  # swapped out of band, hidden
    db.session.expire_all()
    question = db.session.get(Survey, survey.id).questions[0]
    deleted = as_member.post(f"/orgs/{org.id}/surveys/{survey.id}/questions/{question.id}/delete", htmx=True).get_data(
        as_text=True
    )
    assert 'id="open-hint" hx-swap-oob="true">Tilføj mindst ét spørgsmål' in deleted
