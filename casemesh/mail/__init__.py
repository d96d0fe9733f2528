"""Mailer port and adapters (SMTP via aiosmtplib, .eml outbox folder)."""
