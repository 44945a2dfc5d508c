"""Staff intake form: a case taken by phone, at the counter, or on patrol."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from casework import labels
from casework.services.intake import MOBILE_RE, normalise_mobile
from casework.workflow import CHANNELS, PRIORITIES


def mainland_mobile(form, field) -> None:
    """The service's own rule, checked with the other fields so every error shows at once."""
    if field.data and not MOBILE_RE.match(normalise_mobile(field.data)):
        raise ValidationError(_l("请输入 11 位手机号码。"))


class IntakeForm(FlaskForm):
    title = StringField(_l("标题"), validators=[DataRequired(_l("请填写标题。")), Length(max=120)])
    description = TextAreaField(_l("问题描述"), validators=[Optional(), Length(max=2000)])
    category_id = SelectField(_l("类别"), coerce=int, validators=[DataRequired(_l("请选择类别。"))])
    priority = SelectField(_l("紧急程度"), choices=[SelectChoice("", _l("按类别默认"))]
                           + [SelectChoice(p, labels.PRIORITY[p]) for p in PRIORITIES],
                           validators=[Optional()])
    channel = SelectField(_l("来源"), choices=[SelectChoice(c, labels.CHANNEL[c]) for c in CHANNELS if c not in ("web", "api")],
                          default="phone")
    building_id = SelectField(_l("楼栋"), coerce=int, validators=[DataRequired(_l("请选择楼栋。"))])
    unit = StringField(_l("单元/房号"), validators=[Optional(), Length(max=60)])
    reporter_name = StringField(_l("反映人"), validators=[Optional(), Length(max=60)])
    reporter_phone = StringField(_l("联系电话"), validators=[Optional(), Length(max=20), mainland_mobile])
