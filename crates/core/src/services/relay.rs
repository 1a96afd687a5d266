//! The control plane's typed client of a live instance's API. One method per instance route,
//! each taking and answering the wire types of `operator-instance-api` (the same types the
//! instance's router serves), so a path, a query or a field is never written twice. REST
//! relays the raw answer (status, content type, bytes) unchanged; the Operator agent reads
//! it as its type ([`Relayed::parse`]).

use super::{Caller, Platform};
use crate::domain::{Instance, InstanceStatus};
use crate::error::{Error, Result};
use crate::ids::InstanceId;
use operator_instance_api::{self as api, paths, Target};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::Duration;

/// How long each kind of call may take (exec: its own timeout plus this margin).
const FILES_TIMEOUT: Duration = Duration::from_secs(60);
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(900);
const BROWSER_OPEN_TIMEOUT: Duration = Duration::from_secs(90);
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
const EXEC_MARGIN: Duration = Duration::from_secs(10);

/// An answer from an instance's API, as it came (any status below 500), typed by what the
/// route answers on success.
pub struct Relayed<T = serde_json::Value> {
    pub status: u16,
    pub content_type: String,
    pub body: bytes::Bytes,
    answer: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Relayed<T> {
    /// The answer as its type, or the instance's refusal as a domain error (404 not found,
    /// 409 conflict, any other refusal an invalid request, with the instance's message).
    pub fn parse(self) -> Result<T> {
        if self.status >= 400 {
            let msg = serde_json::from_slice::<api::ErrorBody>(&self.body)
                .map(|e| e.error.message)
                .unwrap_or_else(|_| "instance error".to_owned());
            return Err(match self.status {
                404 => Error::NotFound(msg),
                409 => Error::Conflict(msg),
                _ => Error::invalid("request", msg),
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::BadGateway(format!("the instance's answer was not understood: {e}"))
        })
    }
}

/// A live instance's API on behalf of one caller (see [`Platform::instance_client`]).
pub struct InstanceClient {
    http: reqwest::Client,
    instance: InstanceId,
    endpoint: String,
    token: SecretString,
}

impl Platform {
    /// A client for the caller's instance `id_or_name`, which must be active.
    pub async fn instance_client(
        &self,
        caller: &Caller,
        id_or_name: &str,
    ) -> Result<InstanceClient> {
        let instance = self.get_instance(caller, id_or_name).await?;
        self.client_for(&instance)
    }

    /// A client for `instance` as read: one read decides both the status check and the
    /// endpoint, so a restart between two reads cannot slip through.
    pub fn client_for(&self, instance: &Instance) -> Result<InstanceClient> {
        let endpoint = match (&instance.status, &instance.endpoint, &instance.deleted_at) {
            (InstanceStatus::Active, Some(e), None) => e.clone(),
            _ => {
                return Err(Error::Conflict(format!(
                    "instance {} is {}; it must be active",
                    instance.id,
                    instance.status.as_str()
                )))
            }
        };
        Ok(InstanceClient {
            http: self.http.clone(),
            token: self.instance_token(&instance.id),
            instance: instance.id.clone(),
            endpoint,
        })
    }
}

/// The code of an instance that does not take the connection (503): nothing was sent.
pub const INSTANCE_UNREACHABLE: &str = "instance_unreachable";

/// An error and its causes on one line ("error sending request …: tcp connect error: …").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

impl InstanceClient {
    /// `GET /files`: a file's content or a folder's entries.
    pub async fn read_files(&self, q: &api::FilesQuery) -> Result<Relayed<api::FileNode>> {
        self.send(reqwest::Method::GET, q.target(), None, FILES_TIMEOUT)
            .await
    }

    /// `PUT /files`: writes `content` as the file's bytes.
    pub async fn write_file(
        &self,
        q: &api::FilesQuery,
        content: bytes::Bytes,
    ) -> Result<Relayed<api::FileWritten>> {
        self.send(
            reqwest::Method::PUT,
            q.target(),
            Some(content),
            FILES_TIMEOUT,
        )
        .await
    }

    /// `DELETE /files`: removes a file or a folder with its contents.
    pub async fn delete_file(&self, q: &api::FilesQuery) -> Result<Relayed<api::Done>> {
        self.send(reqwest::Method::DELETE, q.target(), None, FILES_TIMEOUT)
            .await
    }

    /// `POST /exec`: waits as long as the command may run, plus a margin.
    pub async fn exec(&self, req: &api::ExecRequest) -> Result<Relayed<api::ExecResult>> {
        let wait = Duration::from_millis(req.effective_timeout_ms()) + EXEC_MARGIN;
        self.send_json(paths::EXEC, req, wait).await
    }

    /// `POST /messages`: a turn of the instance's own agent.
    pub async fn message(&self, req: &api::MessageRequest) -> Result<Relayed<api::MessageReply>> {
        self.send_json(paths::MESSAGES, req, MESSAGE_TIMEOUT).await
    }

    /// `GET /activity`: session transcript lines after the cursor.
    pub async fn activity(&self, q: &api::ActivityQuery) -> Result<Relayed<api::Activity>> {
        self.send(reqwest::Method::GET, q.target(), None, ACTIVITY_TIMEOUT)
            .await
    }

    /// `GET /cron`: the instance's own scheduled jobs.
    pub async fn cron(&self) -> Result<Relayed<api::CronJobs>> {
        self.send(
            reqwest::Method::GET,
            paths::CRON.to_owned(),
            None,
            ACTIVITY_TIMEOUT,
        )
        .await
    }

    /// `POST /cron`: a job for the instance's own scheduler.
    pub async fn add_cron(
        &self,
        req: &api::CronJobRequest,
    ) -> Result<Relayed<api::CronJobCreated>> {
        self.send_json(paths::CRON, req, ACTIVITY_TIMEOUT).await
    }

    /// `POST /browser/open`: loads a page.
    pub async fn browser_open(
        &self,
        req: &api::BrowserOpenRequest,
    ) -> Result<Relayed<api::PageInfo>> {
        self.send_json(paths::BROWSER_OPEN, req, BROWSER_OPEN_TIMEOUT)
            .await
    }

    /// `GET /browser/text`: the current page's text.
    pub async fn browser_text(&self) -> Result<Relayed<api::PageInfo>> {
        self.send(
            reqwest::Method::GET,
            paths::BROWSER_TEXT.to_owned(),
            None,
            BROWSER_TIMEOUT,
        )
        .await
    }

    /// `GET /browser/screenshot`: a PNG of the current page (not JSON: relay it raw).
    pub async fn browser_screenshot(&self) -> Result<Relayed<()>> {
        self.send(
            reqwest::Method::GET,
            paths::BROWSER_SCREENSHOT.to_owned(),
            None,
            BROWSER_TIMEOUT,
        )
        .await
    }

    async fn send_json<T>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<Relayed<T>> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Unexpected(e.into()))?;
        self.send(
            reqwest::Method::POST,
            path.to_owned(),
            Some(body.into()),
            timeout,
        )
        .await
    }

    /// One call. The instance failing (5xx, no answer) is a bad gateway, except a 503
    /// `llm_unavailable`, which is the caller's 503: no model behind the gateway.
    async fn send<T>(
        &self,
        method: reqwest::Method,
        target: String,
        body: Option<bytes::Bytes>,
        timeout: Duration,
    ) -> Result<Relayed<T>> {
        let id = &self.instance;
        let mut rb = self
            .http
            .request(method, format!("{}{target}", self.endpoint))
            .bearer_auth(self.token.expose_secret())
            .timeout(timeout);
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let res = rb.send().await.map_err(|e| {
            let why = error_chain(&e);
            if e.is_connect() {
                // Nothing was delivered: it is restarting, crashed or gone.
                Error::Unavailable {
                    code: INSTANCE_UNREACHABLE,
                    message: format!("instance {id} cannot be reached: {why}"),
                }
            } else {
                Error::BadGateway(format!("instance {id} did not answer: {why}"))
            }
        })?;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let body = res
            .bytes()
            .await
            .map_err(|e| Error::BadGateway(format!("instance {id} reply: {e}")))?;
        if status >= 500 {
            let refusal = serde_json::from_slice::<api::ErrorBody>(&body).ok();
            let msg = refusal
                .as_ref()
                .map(|r| r.error.message.clone())
                .unwrap_or_else(|| format!("status {status}"));
            if status == 503 && refusal.is_some_and(|r| r.error.code == "llm_unavailable") {
                return Err(Error::Unavailable {
                    code: "llm_unavailable",
                    message: msg,
                });
            }
            return Err(Error::BadGateway(format!("instance {id}: {msg}")));
        }
        Ok(Relayed {
            status,
            content_type,
            body,
            answer: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer<T>(status: u16, body: &str) -> Relayed<T> {
        Relayed {
            status,
            content_type: "application/json".into(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            answer: PhantomData,
        }
    }

    #[test]
    fn an_answer_parses_as_its_type_and_a_refusal_as_the_matching_error() {
        // GIVEN a directory listing THEN it reads as a FileNode
        let node = answer::<api::FileNode>(200, r#"{"path":"","type":"directory","entries":[]}"#)
            .parse()
            .expect("a listing");
        assert!(matches!(node, api::FileNode::Directory { .. }));
        // GIVEN the instance's refusals THEN each keeps its meaning and message
        let refusal = |status, code| {
            answer::<api::Done>(
                status,
                &format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#),
            )
            .parse()
            .expect_err("refused")
        };
        assert!(matches!(refusal(404, "not_found"), Error::NotFound(m) if m == "m"));
        assert!(matches!(refusal(409, "conflict"), Error::Conflict(m) if m == "m"));
        assert!(matches!(
            refusal(413, "payload_too_large"),
            Error::Invalid { .. }
        ));
        // AND an answer that is not the route's type is the instance misbehaving
        let err = answer::<api::ExecResult>(200, "<html>")
            .parse()
            .expect_err("refused");
        assert!(matches!(err, Error::BadGateway(_)), "{err}");
    }

    #[tokio::test]
    async fn an_instance_that_takes_no_connection_is_unreachable_with_the_cause() {
        // GIVEN a port nothing listens on
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let client = InstanceClient {
            http: reqwest::Client::new(),
            token: secrecy::SecretString::from("t".to_owned()),
            instance: crate::ids::InstanceId::from_trusted("inst_gone"),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        // WHEN a message is sent THEN it is a 503 naming the instance and why
        let err = client
            .message(&api::MessageRequest {
                text: "hi".into(),
                session_id: None,
            })
            .await
            .err()
            .expect("refused");
        match &err {
            Error::Unavailable { code, message } => {
                assert_eq!(*code, INSTANCE_UNREACHABLE);
                assert!(message.contains("inst_gone"), "{message}");
                assert!(message.to_lowercase().contains("connect"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
