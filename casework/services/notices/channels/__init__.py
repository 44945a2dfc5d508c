"""One small class per channel. A channel turns an outbox message into one request to a receiver and
says what came back; it never touches the database.

    class MyChannel(Channel):
        kind = "mine"
        fields = (Field("url", "地址"), Field("token", "令牌", secret=True))
        def send(self, message: Outgoing) -> Result: ...
"""
from __future__ import annotations

from casework.services.notices.channels.base import Channel, Field, Outgoing, Result
from casework.services.notices.channels.dingtalk import DingTalkRobot
from casework.services.notices.channels.email import SmtpChannel
from casework.services.notices.channels.feishu import FeishuRobot
from casework.services.notices.channels.sms import SmsGateway
from casework.services.notices.channels.webhook import Webhook
from casework.services.notices.channels.wecom import WeComRobot

REGISTRY: dict[str, type[Channel]] = {
    cls.kind: cls for cls in (WeComRobot, DingTalkRobot, FeishuRobot, SmtpChannel, Webhook, SmsGateway)
}


def build(kind: str, config: dict, timeout: float = 10.0) -> Channel:
    """The channel object for a stored channel row's kind and config."""
    return REGISTRY[kind](config or {}, timeout=timeout)


__all__ = ["REGISTRY", "Channel", "Field", "Outgoing", "Result", "build"]
