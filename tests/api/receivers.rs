//! Servers that Slipway talks to, started by the tests on loopback: an HTTP receiver (chat web
//! hooks, monitor URLs) and an SMTP listener. Each is bound before it is spawned.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How long a test waits for Slipway to deliver something before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// A 302 to this location.
    Redirect(&'static str),
    /// Never answers (for timeouts).
    Hang,
}

/// Records every request and answers from a queue of planned answers (200 once it is empty).
pub struct HttpReceiver {
    pub url: String,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    plan: Arc<Mutex<VecDeque<Answer>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpReceiver {
    pub async fn start() -> HttpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (sender, received) = mpsc::unbounded_channel();
        let plan: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let answers = plan.clone();
        let handler =
            move |method: Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let sender = sender.clone();
                let answers = answers.clone();
                async move {
                    let body = serde_json::from_slice(&body)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
                    let _ = sender.send(Received {
                        at: std::time::Instant::now(),
                        method,
                        path: uri.path().to_owned(),
                        headers,
                        body,
                    });
                    let answer = answers.lock().unwrap().pop_front();
                    match answer.unwrap_or(Answer::Status(200)) {
                        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
                        Answer::Redirect(location) => {
                            (StatusCode::FOUND, [("location", location)]).into_response()
                        }
                        Answer::Hang => std::future::pending().await,
                    }
                }
            };
        let router = axum::Router::new().fallback(handler);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        HttpReceiver {
            url,
            received: tokio::sync::Mutex::new(received),
            plan,
            task,
        }
    }

    /// Plans the answers to the next requests.
    pub fn answer(&self, answers: &[Answer]) {
        self.plan.lock().unwrap().extend(answers.iter().copied());
    }

    /// The next request, waiting for it.
    pub async fn next(&self) -> Received {
        let mut received = self.received.lock().await;
        tokio::time::timeout(PATIENCE, received.recv())
            .await
            .expect("the receiver got no request in time")
            .expect("the receiver stopped")
    }

    /// The requests that arrived and were not taken yet.
    pub async fn waiting(&self) -> Vec<Received> {
        let mut received = self.received.lock().await;
        let mut list = Vec::new();
        while let Ok(request) = received.try_recv() {
            list.push(request);
        }
        list
    }
}

/// One e-mail as the SMTP listener received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A plain SMTP listener that accepts every message.
pub struct SmtpListener {
    pub port: u16,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Mail>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpListener {
    pub async fn start() -> SmtpListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(smtp_session(stream, sender.clone()));
            }
        });
        SmtpListener {
            port,
            received: tokio::sync::Mutex::new(received),
            task,
        }
    }

    pub async fn next(&self) -> Mail {
        let mut received = self.received.lock().await;
        tokio::time::timeout(PATIENCE, received.recv())
            .await
            .expect("no e-mail arrived in time")
            .expect("the SMTP listener stopped")
    }
}

async fn smtp_session(stream: tokio::net::TcpStream, sender: mpsc::UnboundedSender<Mail>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut mail = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    let _ = write.write_all(b"220 localhost test SMTP\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-localhost\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") {
            b"250 localhost\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_owned();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            while let Ok(Some(data)) = lines.next_line().await {
                if data == "." {
                    break;
                }
                mail.data.push_str(&data);
                mail.data.push('\n');
            }
            let _ = sender.send(std::mem::replace(
                &mut mail,
                Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                },
            ));
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 OK\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
