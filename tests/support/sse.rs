//! Server-sent events as the tests read them: each event's `id:` and its `data:` lines
//! (comments, such as heartbeats, carry no data and are skipped).

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<u64>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

pub fn parse_sse(body: &str) -> Vec<Frame> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = vec![];
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            (!data.is_empty()).then(|| Frame {
                id,
                data: data.join("\n"),
            })
        })
        .collect()
}
