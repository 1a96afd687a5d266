//! Which model provider the platform talks to, and how much context it sends: read once
//! from the environment at start by every entry point. Owned by `llm` (which builds the
//! providers from it) so that neither `services` nor `agent` has to be imported here.

/// Which provider answers model calls, and how to reach it.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub provider: LlmProvider,
    pub base_url: String,
    pub api_key: Option<secrecy::SecretString>,
    pub model: String,
    /// How much of a chat's past the Operator agent sends per model request.
    pub context: ContextBudget,
    /// The longest the provider may send nothing: before its answer starts, and between two
    /// pieces of a streamed answer. Past it the call fails (a hung provider never holds a
    /// turn for good).
    pub idle_timeout: std::time::Duration,
}

/// `OPERATOR_LLM_IDLE_TIMEOUT_SECS` when unset: long enough for a model that thinks before
/// it streams.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProvider {
    /// OpenAI Chat Completions and compatible servers (Ollama, vLLM).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// How much of a chat's past a model request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextBudget {
    /// Estimated tokens of earlier turns sent verbatim; beyond it the oldest are summarised.
    pub history_tokens: u64,
    /// Estimated tokens of one tool output as the model sees it; longer ones are cut.
    pub tool_output_tokens: u64,
}

impl Default for ContextBudget {
    fn default() -> Self {
        Self {
            history_tokens: 16_000,
            tool_output_tokens: 2_000,
        }
    }
}

impl ContextBudget {
    /// `OPERATOR_AGENT_HISTORY_TOKENS` and `OPERATOR_AGENT_TOOL_OUTPUT_TOKENS`, each a
    /// positive integer when set. Fails naming the variable.
    pub fn from_env() -> anyhow::Result<Self> {
        let read = |name: &str, default: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => anyhow::bail!("{name}={v:?}: expected a positive number of tokens"),
                },
                _ => Ok(default),
            }
        };
        let d = Self::default();
        Ok(Self {
            history_tokens: read("OPERATOR_AGENT_HISTORY_TOKENS", d.history_tokens)?,
            tool_output_tokens: read("OPERATOR_AGENT_TOOL_OUTPUT_TOKENS", d.tool_output_tokens)?,
        })
    }
}

impl LlmConfig {
    /// `OPERATOR_LLM` and friends, read once at start by every entry point; `None` when
    /// no provider is configured. Fails naming the missing variable.
    pub fn from_env() -> anyhow::Result<Option<LlmConfig>> {
        Self::from_env_with_key(None)
    }

    /// As [`LlmConfig::from_env`], with the provider key given by the caller (read from a
    /// secret store at start) instead of `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`.
    pub fn from_env_with_key(
        key: Option<secrecy::SecretString>,
    ) -> anyhow::Result<Option<LlmConfig>> {
        let provider = match std::env::var("OPERATOR_LLM").unwrap_or_default().trim() {
            "" => return Ok(None),
            "openai" => LlmProvider::OpenAi,
            "anthropic" => LlmProvider::Anthropic,
            other => anyhow::bail!("OPERATOR_LLM={other:?}: expected openai or anthropic"),
        };
        let model = std::env::var("OPERATOR_LLM_MODEL")
            .ok()
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("OPERATOR_LLM_MODEL must name the model when OPERATOR_LLM is set")
            })?;
        let base_url = std::env::var("OPERATOR_LLM_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        let (default_url, key_var) = match provider {
            LlmProvider::OpenAi => ("https://api.openai.com/v1", "OPENAI_API_KEY"),
            LlmProvider::Anthropic => ("https://api.anthropic.com", "ANTHROPIC_API_KEY"),
        };
        let api_key = key.or_else(|| {
            std::env::var(key_var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| secrecy::SecretString::from(v.trim().to_owned()))
        });
        // A self-hosted endpoint (Ollama, vLLM) may need no key; the hosted APIs do.
        if api_key.is_none() && base_url.is_none() {
            anyhow::bail!("{key_var} must be set for OPERATOR_LLM={} (or point OPERATOR_LLM_BASE_URL at a server that needs no key)", std::env::var("OPERATOR_LLM").unwrap_or_default());
        }
        Ok(Some(LlmConfig {
            provider,
            base_url: base_url.unwrap_or_else(|| default_url.to_owned()),
            api_key,
            model,
            context: ContextBudget::from_env()?,
            idle_timeout: idle_timeout_from_env()?,
        }))
    }
}

/// `OPERATOR_LLM_IDLE_TIMEOUT_SECS`: a positive number of seconds when set. Fails naming it.
fn idle_timeout_from_env() -> anyhow::Result<std::time::Duration> {
    match std::env::var("OPERATOR_LLM_IDLE_TIMEOUT_SECS") {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n)),
            _ => anyhow::bail!(
                "OPERATOR_LLM_IDLE_TIMEOUT_SECS={v:?}: expected a positive number of seconds"
            ),
        },
        _ => Ok(DEFAULT_IDLE_TIMEOUT),
    }
}
