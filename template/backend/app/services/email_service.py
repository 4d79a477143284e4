"""Sending email over SMTP with the settings' server (Mailpit in development)."""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr

from app.core.config import get_settings


def send_email(to: str, subject: str, body: str) -> None:
    """Send a plain-text email. Raises smtplib/OS errors so the calling task can retry."""
    settings = get_settings()
    message = EmailMessage()
    message["From"] = formataddr((settings.emails_from_name, settings.emails_from_address))
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)

    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
