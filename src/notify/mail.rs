//! E-mail over SMTP with lettre.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::message::Message;
use crate::config::{Config, SmtpTls};

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    /// The mailer the config describes; `None` when no SMTP host is set.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Mailer>> {
        let Some(host) = &config.smtp_host else {
            return Ok(None);
        };
        let (builder, default_port) = match config.smtp_tls {
            SmtpTls::None => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                25,
            ),
            SmtpTls::Starttls => (
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
                587,
            ),
            SmtpTls::Tls => (AsyncSmtpTransport::<Tokio1Executor>::relay(host)?, 465),
        };
        let mut builder = builder
            .port(config.smtp_port.unwrap_or(default_port))
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from = config
            .mail_from
            .parse()
            .map_err(|err| anyhow::anyhow!("--mail-from is not a mailbox: {err}"))?;
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
        }))
    }

    pub async fn send(&self, to: &str, message: &Message) -> Result<(), String> {
        let to = to
            .parse()
            .map_err(|_| "the e-mail address is not valid".to_owned())?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.title())
            .header(ContentType::TEXT_PLAIN)
            .body(text(message))
            .map_err(|err| format!("could not build the e-mail: {err}"))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|err| format!("the SMTP server refused the e-mail: {err}"))
    }
}

/// The plain-text body: the title, the facts, the link.
pub fn text(message: &Message) -> String {
    let mut body = format!("{}\n\n", message.title());
    for (label, value) in message.facts() {
        body.push_str(&format!("{label}: {value}\n"));
    }
    body.push_str(&format!("\n{}: {}\n", message.link_label(), message.link));
    body
}
