//! `JobQueue` on SQS (standard queue). Dead-lettering is the queue's redrive policy; a body
//! that is not a `Job` is moved to the dead-letter queue by hand.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use operator_core::jobs::Job;
use operator_core::ports::{DeadLetter, JobQueue, ReceivedJob};
use std::time::Duration;

pub struct SqsQueue {
    client: Client,
    url: String,
    dlq_url: String,
    /// Long-polling wait of `receive` (0 = answer at once).
    wait_seconds: i32,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            dlq_url: dlq_url.into(),
            wait_seconds: 0,
        }
    }

    /// Long polling: an empty `receive` waits up to `wait` (max 20 s) for a message, so an
    /// idle worker neither spins nor pays for empty receives.
    pub fn with_long_polling(mut self, wait: Duration) -> Self {
        self.wait_seconds = secs(wait).clamp(0, 20);
        self
    }
}

/// SQS counts whole seconds; round to the nearest.
fn secs(d: Duration) -> i32 {
    i32::try_from((d.as_millis() + 500) / 1000).unwrap_or(i32::MAX)
}

#[async_trait]
impl JobQueue for SqsQueue {
    #[tracing::instrument(skip_all, fields(kind = job.kind()))]
    async fn send(&self, job: &Job, delay: Duration) -> anyhow::Result<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(job)?)
            // SQS delays at most 15 minutes.
            .delay_seconds(secs(delay).min(900))
            .send()
            .await
            .context("SQS SendMessage")?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    #[tracing::instrument(skip_all, fields(max = max))]
    async fn receive(&self, max: u32, visibility: Duration) -> anyhow::Result<Vec<ReceivedJob>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(secs(visibility))
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("SQS ReceiveMessage")?;
        let mut jobs = vec![];
        for m in out.messages() {
            let (Some(body), Some(receipt)) = (m.body(), m.receipt_handle()) else {
                continue;
            };
            let receive_count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            match serde_json::from_str::<Job>(body) {
                Ok(job) => jobs.push(ReceivedJob {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt: receipt.to_owned(),
                    job,
                    receive_count,
                }),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable job moved to the dead-letter queue");
                    self.client
                        .send_message()
                        .queue_url(&self.dlq_url)
                        .message_body(body)
                        .send()
                        .await
                        .context("SQS SendMessage to the dead-letter queue")?;
                    self.ack(receipt).await?;
                }
            }
        }
        Ok(jobs)
    }

    #[tracing::instrument(skip_all)]
    async fn ack(&self, receipt: &str) -> anyhow::Result<()> {
        match self
            .client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_receipt_handle_is_invalid() || e.is_invalid_id_format() {
                    Ok(())
                } else {
                    Err(anyhow::Error::new(e).context("SQS DeleteMessage"))
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(timeout_ms = timeout.as_millis() as u64))]
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> anyhow::Result<()> {
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs(timeout).min(43_200))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_receipt_handle_is_invalid() || e.is_message_not_inflight() {
                    Ok(())
                } else {
                    Err(anyhow::Error::new(e).context("SQS ChangeMessageVisibility"))
                }
            }
        }
    }

    #[tracing::instrument(skip_all)]
    async fn wait_for_message(&self, max: Duration) {
        // Long polling already waited inside `receive`.
        if self.wait_seconds == 0 {
            tokio::time::sleep(max).await;
        }
    }

    #[tracing::instrument(skip_all, fields(max = max))]
    async fn dead_letters(&self, max: u32) -> anyhow::Result<Vec<DeadLetter>> {
        // Peek: received with no visibility timeout, so they stay in the queue.
        let out = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("SQS ReceiveMessage (dead-letter queue)")?;
        Ok(out
            .messages()
            .iter()
            .map(|m| DeadLetter {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
            })
            .collect())
    }
}
