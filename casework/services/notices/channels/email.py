"""E-mail over SMTP: STARTTLS (optionally with the site's own CA file), plain text + HTML, the
subject encoded per RFC 2047 so Chinese survives, and a Message-ID made from the idempotency key
(a receiving system that keeps Message-IDs sees a redelivery as the same mail)."""
from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from html import escape

from flask_babel import lazy_gettext as _l

from casework.services.notices.channels.base import ANSWER_MAX, Channel, Field, Outgoing, Result


class SmtpChannel(Channel):
    kind = "smtp"
    label = _l("电子邮件（SMTP）")
    personal = True
    fields = (Field("host", _l("SMTP 服务器")), Field("port", _l("端口"), default="587"),
              Field("sender", _l("发件人地址")), Field("username", _l("用户名"), required=False),
              Field("password", _l("密码"), secret=True, required=False),
              Field("starttls", _l("使用 STARTTLS（1 是，0 否）"), required=False, default="1"),
              Field("ca_file", _l("CA 证书文件（可选）"), required=False))

    def compose(self, message: Outgoing) -> EmailMessage:
        p = message.payload
        mail = EmailMessage()
        mail["Subject"] = p.get("subject") or p.get("title") or ""
        mail["From"] = self.config["sender"]
        mail["To"] = message.destination
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@casework>"
        mail["Idempotency-Key"] = message.key
        text = p.get("text", "")
        mail.set_content(text)
        html = p.get("html")
        if html is None:
            body = "<br>".join(escape(line) for line in text.split("\n"))
            link = p.get("link")
            if link:
                body += f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
            html = f"<html><body><p>{body}</p></body></html>"
        mail.add_alternative(html, subtype="html")
        return mail

    def send(self, message: Outgoing) -> Result:
        if not message.destination:
            return Result(False, "no e-mail address")
        try:
            with smtplib.SMTP(self.config["host"], int(self.config.get("port") or 587), timeout=self.timeout) as smtp:
                if str(self.config.get("starttls", "1")) not in ("0", "", "false"):
                    context = ssl.create_default_context(cafile=self.config.get("ca_file") or None)
                    smtp.starttls(context=context)
                if self.config.get("username"):
                    smtp.login(self.config["username"], self.config.get("password", ""))
                refused = smtp.send_message(self.compose(message))
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            return Result(False, f"{type(exc).__name__}: {exc}"[:ANSWER_MAX])
        if refused:
            return Result(False, f"refused: {refused}"[:ANSWER_MAX])
        return Result(True, "250 accepted")
