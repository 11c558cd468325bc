"""Production mail and SMS settings from the environment, and a warning when there are none."""

from tests.common.test_settings import PRODUCTION_ENV, _run

PRINT_MAIL = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup();"
    "from django.conf import settings as s;"
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD,"
    " s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.DEFAULT_FROM_EMAIL)"
)


def test_an_email_url_names_the_smtp_server_with_ssl(tmp_path):
    env = {
        **PRODUCTION_ENV,
        "EMAIL_URL": "smtps://orders%40shop.example:s3cret@smtp.example.com:465",
        "DEFAULT_FROM_EMAIL": "orders@shop.example",
    }
    result = _run(["-c", PRINT_MAIL], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", "465",
        "orders@shop.example", "s3cret", "False", "True", "orders@shop.example",
    ]  # fmt: skip


def test_email_host_variables_name_the_smtp_server_with_starttls(tmp_path):
    env = {**PRODUCTION_ENV, "EMAIL_HOST": "mail.example.com", "EMAIL_HOST_USER": "oms",
           "EMAIL_HOST_PASSWORD": "pw"}  # fmt: skip
    result = _run(["-c", PRINT_MAIL], env, tmp_path)

    backend, host, port, user, password, tls, ssl, _ = result.stdout.split()
    assert (backend, host, port, user, password, tls, ssl) == (
        "django.core.mail.backends.smtp.EmailBackend", "mail.example.com", "587", "oms", "pw",
        "True", "False",
    )  # fmt: skip


def test_production_without_a_mail_server_logs_mail_and_warns_at_startup(tmp_path):
    result = _run(["-c", PRINT_MAIL], PRODUCTION_ENV, tmp_path)
    assert result.stdout.split()[0] == "django.core.mail.backends.console.EmailBackend"

    check = _run(["manage.py", "check"], PRODUCTION_ENV, tmp_path)

    assert check.returncode == 0, check.stderr
    assert "common.W001" in check.stderr + check.stdout
    assert "No mail server is configured" in check.stderr + check.stdout
    assert "common.W002" in check.stderr + check.stdout


def test_a_configured_mail_server_and_sms_provider_silence_the_warnings(tmp_path):
    env = {**PRODUCTION_ENV, "EMAIL_URL": "smtp://mail.example.com:587",
           "SMS_BACKEND": "common.notifications.BaseSmsBackend"}  # fmt: skip
    check = _run(["manage.py", "check"], env, tmp_path)

    assert check.returncode == 0, check.stderr
    assert "common.W00" not in check.stderr + check.stdout
