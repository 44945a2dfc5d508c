"""Login and password-change forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请输入用户名。")), Length(max=40)])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码。")), Length(max=200)])


class PasswordForm(FlaskForm):
    """The user's own password change; the policy itself is services.passwords (checked by the service)."""

    current = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请输入当前密码。")), Length(max=200)])
    new = PasswordField(_l("新密码"), validators=[DataRequired(_l("请输入新密码。")), Length(max=200)])
    confirm = PasswordField(_l("再次输入新密码"), validators=[DataRequired(_l("请再次输入新密码。")), Length(max=200)])
