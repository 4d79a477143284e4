"""Sending email over SMTP with the settings' server (Mailpit in development)."""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from html import escape
from pathlib import Path
from string import Template

from opentelemetry import trace

from app.core.config import get_settings

tracer = trace.get_tracer(__name__)
# Seconds to wait for the server, to connect and then for each reply; a timeout is retried.
SMTP_TIMEOUT_SECONDS = 10


class EmailDeliveryError(Exception):
    """The message was not accepted by the SMTP server."""


class TransientEmailError(EmailDeliveryError):
    """The server may well accept it later (a 4xx reply, a dropped or refused connection): retry."""


class PermanentEmailError(EmailDeliveryError):
    """Retrying cannot help (a 5xx reply: refused recipient, bad credentials, ...)."""


TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "emails"


def render_email(name: str, **values: object) -> tuple[str, str]:
    """The plain-text and HTML bodies of the email `name` (`<name>.txt` and `<name>.html`), their
    `$placeholders` filled with `values`, escaped in the HTML."""
    text = Template((TEMPLATES / f"{name}.txt").read_text()).substitute(values)
    html = Template((TEMPLATES / f"{name}.html").read_text()).substitute(
        {key: escape(str(value)) for key, value in values.items()}
    )
    return text, html


def send_email(to: str, subject: str, body: str, html: str | None = None) -> None:
    """Send an email, plain text with an HTML alternative if given; raise Transient- or
    PermanentEmailError if it is not accepted."""
    settings = get_settings()
    message = EmailMessage()
    message["From"] = formataddr((settings.emails_from_name, settings.emails_from_address))
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")

    host, port = settings.smtp_host, settings.smtp_port
    try:
        with (
            tracer.start_as_current_span(
                "smtp send",
                kind=trace.SpanKind.CLIENT,
                attributes={"server.address": host, "server.port": port},
            ),
            smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS) as smtp,
        ):
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise _by_reply_code(exc.smtp_code, exc) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise _by_reply_code(max(codes), exc) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientEmailError(str(exc)) from exc
    except smtplib.SMTPException as exc:
        raise PermanentEmailError(str(exc)) from exc
    except OSError as exc:  # refused, unreachable, timed out: the server may come back
        raise TransientEmailError(str(exc)) from exc


def _by_reply_code(code: int, exc: Exception) -> EmailDeliveryError:
    """SMTP's own verdict: 4xx replies are temporary, 5xx are final."""
    error = TransientEmailError if 400 <= code < 500 else PermanentEmailError
    return error(f"SMTP {code}: {exc}")
