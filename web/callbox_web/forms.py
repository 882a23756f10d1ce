"""Every form of the panel. Flask-WTF adds and checks the CSRF token on each of them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from callbox_web import words

REQUIRED = _l("Please fill in this field.")


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class SetupForm(FlaskForm):
    code = StringField(_l("Setup code"), validators=[DataRequired(REQUIRED)])
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), Length(2, 40)])
    display_name = StringField(_l("Your name"), validators=[Optional(), Length(0, 80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED)])
    confirm = PasswordField(_l("Password again"),
                            validators=[DataRequired(REQUIRED), EqualTo("password", _l("The two passwords differ."))])


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(REQUIRED), EqualTo("password", _l("The two passwords differ."))])


def role_choices() -> list[tuple[str, str]]:
    return [(code, str(label)) for code, label in words.ROLES.items()]


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), Length(2, 40)])
    display_name = StringField(_l("Name"), validators=[Optional(), Length(0, 80)])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("First password (the person changes it later)"), validators=[DataRequired(REQUIRED)])


class UserEditForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)
    active = BooleanField(_l("May log in"))
    password = PasswordField(_l("New password (leave empty to keep)"), validators=[Optional()])


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class ConsentForm(FlaskForm):
    purpose = SelectField(_l("Purpose"), choices=lambda: [(k, str(v)) for k, v in words.PURPOSES.items()])
    method = SelectField(_l("How consent was given"),
                         choices=lambda: [(k, str(v)) for k, v in words.CONSENT_METHODS.items()])
    evidence = StringField(_l("Evidence (form number or file reference)"),
                           validators=[DataRequired(REQUIRED), Length(3, 300)])
    given_at = StringField(_l("Given on (e.g. 2026-03-01T09:30+08:00)"), validators=[DataRequired(REQUIRED)])


class DncAddForm(FlaskForm):
    phone = StringField(_l("Phone number"), validators=[DataRequired(REQUIRED)])
    reason = StringField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(3, 300)])


class DncRemoveForm(ConsentForm):
    note = StringField(_l("Why the number may be called again"), validators=[DataRequired(REQUIRED), Length(3, 300)])


class ScriptForm(FlaskForm):
    text = TextAreaField(_l("Script (TOML)"), validators=[DataRequired(REQUIRED)])


class ReviewForm(FlaskForm):
    note = TextAreaField(_l("Note to the author"), validators=[Optional(), Length(0, 1000)])


class CampaignForm(FlaskForm):
    name = StringField(_l("Campaign name"), validators=[DataRequired(REQUIRED), Length(2, 80)])
    purpose = SelectField(_l("Purpose"), choices=lambda: [(k, str(v)) for k, v in words.PURPOSES.items()])
    script = SelectField(_l("Script"), choices=[])
    records = BooleanField(_l("Ask callees whether the call may be recorded, and record if they agree"))
    members = TextAreaField(_l("Who to call (CSV: phone, then one column per script variable)"),
                            validators=[DataRequired(REQUIRED)])


class PauseForm(FlaskForm):
    reason = StringField(_l("Why pause?"), validators=[DataRequired(REQUIRED), Length(3, 300)])


class RecordingAccessForm(FlaskForm):
    purpose = TextAreaField(_l("Why do you need to listen? (written to the access log)"),
                            validators=[DataRequired(REQUIRED), Length(10, 500)])
    passphrase = PasswordField(_l("Recording passphrase"), validators=[DataRequired(REQUIRED)])


class ComplaintForm(FlaskForm):
    phone = StringField(_l("Phone number of the person"), validators=[DataRequired(REQUIRED)])
    campaign_id = SelectField(_l("Campaign"), choices=[], validate_choice=False)
    channel = SelectField(_l("Received"), choices=lambda: [(k, str(v)) for k, v in words.COMPLAINT_CHANNELS.items()])
    summary = TextAreaField(_l("What the person said"), validators=[DataRequired(REQUIRED), Length(3, 2000)])


class OrganisationForm(FlaskForm):
    name = StringField(_l("Name (Chinese)"), validators=[DataRequired(REQUIRED), Length(2, 80)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(0, 80)])
    callback_number = StringField(_l("Callback number callees hear"), validators=[DataRequired(REQUIRED)])
    timezone = StringField(_l("Time zone"), validators=[DataRequired(REQUIRED)])
    industry = SelectField(_l("Industry"), choices=[])
    rules = SelectField(_l("Rule pack"), choices=[])


class RetentionForm(FlaskForm):
    months = StringField(_l("Keep recordings for (months)"), validators=[DataRequired(REQUIRED)])


class KeysInitForm(FlaskForm):
    passphrase = PasswordField(_l("New recording passphrase (at least 12 characters)"),
                               validators=[DataRequired(REQUIRED)])
    confirm = PasswordField(_l("Passphrase again"),
                            validators=[DataRequired(REQUIRED), EqualTo("passphrase", _l("The two passphrases differ."))])


class BackupForm(FlaskForm):
    passphrase = PasswordField(_l("Backup passphrase (at least 12 characters; keep it apart from the file)"),
                               validators=[DataRequired(REQUIRED), Length(12, 200)])
    confirm = PasswordField(_l("Backup passphrase again"),
                            validators=[DataRequired(REQUIRED), EqualTo("passphrase", _l("The two passphrases differ."))])
