"""Forms of the clinic web app (Flask-WTF: every POST carries a CSRF token).

Field checks here are about shape only (present, not too long); what a value means (a
known unit, a time with a zone, not in the future) is checked by the same dose code the
CLI uses, so the web and the command line accept and refuse the same input.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

ROUTE_CHOICES = [SelectChoice("oral", "oral"), SelectChoice("intrathecal_bolus", "intrathecal bolus")]


class SignInForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class SignOutForm(FlaskForm):
    """No fields: only the CSRF token, so no other site can sign a user out."""


class DoseForm(FlaskForm):
    drug = StringField("Drug", default="baclofen", validators=[DataRequired(), Length(max=64)])
    amount = StringField("Amount with unit", validators=[DataRequired(), Length(max=32)],
                         description="e.g. 20 mg or 50 ug")
    route = SelectField("Route", choices=ROUTE_CHOICES, default="oral")
    time = StringField("Taken at (local time)", validators=[DataRequired(), Length(max=64)],
                       description="YYYY-MM-DD HH:MM in the patient's time zone, or with an "
                                   "offset such as +01:00")
    note = StringField("Note", validators=[Optional(), Length(max=500)])
    allow_duplicate = BooleanField("The same dose really was taken twice")


class CorrectForm(FlaskForm):
    amount = StringField("Amount with unit", validators=[Optional(), Length(max=32)])
    time = StringField("Taken at (local time)", validators=[Optional(), Length(max=64)])
    route = SelectField("Route", choices=[SelectChoice("", "unchanged"), *ROUTE_CHOICES], default="")
    drug = StringField("Drug", validators=[Optional(), Length(max=64)])
    note = StringField("Note", validators=[Optional(), Length(max=500)])
    reason = StringField("Reason for the correction", validators=[DataRequired(), Length(max=500)])


class RetractForm(FlaskForm):
    reason = StringField("Reason (entered in error, not taken, ...)",
                         validators=[DataRequired(), Length(max=500)])
