"""Login, logout and the language switch."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from models import User, db
from views.forms import Form
from views.ratelimit import AttemptLimit, minutes
from views.redirects import safe_next

bp = Blueprint("auth", __name__)


class LoginForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


def account_limit() -> AttemptLimit:
    cfg = current_app.config
    return AttemptLimit("login-account", cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCKOUT_SECONDS"])


def ip_limit() -> AttemptLimit:
    # One address may mistype for many people (an office behind NAT), so the
    # per-address limit is looser than the per-account one.
    cfg = current_app.config
    return AttemptLimit("login-ip", cfg["LOGIN_MAX_FAILURES"] * 4, cfg["LOGIN_LOCKOUT_SECONDS"])


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("orgs.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        # Behind a proxy, remote_addr is the client's only with ProxyFix (README).
        ip = request.remote_addr or "unknown"
        # Counted before the password is checked, so parallel guesses cannot
        # get past the limit.
        wait = account_limit().take(email) or ip_limit().take(ip)
        if wait:
            form.password.errors.append(
                _("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes(wait))
            )
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(db.select(User).filter_by(email=email))
        password_ok = user.check_password(form.password.data) if user else User.check_no_password(form.password.data)
        if not password_ok:
            form.password.errors.append(_("Wrong e-mail or password."))
            return render_template("auth/login.html", form=form), 401
        account_limit().reset(email)
        ip_limit().give_back(ip)
        # A language chosen on the login page wins over the one saved last time.
        chosen = session.get("language")
        if chosen and chosen != user.language:
            user.language = chosen
            db.session.commit()
        session.clear()  # a fresh session (and CSRF token) for the logged-in user
        session["language"] = user.language or chosen or current_app.config["BABEL_DEFAULT_LOCALE"]
        login_user(user)
        return redirect(safe_next(request.args.get("next")) or url_for("orgs.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    # Ends this user's sessions everywhere, not just this cookie: a copied
    # or forgotten session elsewhere stops working too.
    current_user.end_sessions()
    db.session.commit()
    language = str(get_locale())  # the login page stays in the user's language
    logout_user()
    session.clear()
    session["language"] = language
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    language = request.form.get("language", "")
    if language in current_app.config["LANGUAGES"]:
        session["language"] = language
        if current_user.is_authenticated:
            current_user.language = language
            db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("orgs.index"))
