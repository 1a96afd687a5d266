//! The webhook prompt renderer (`domain::render_prompt`): a delivery's prompt is the
//! webhook's template with every `{{payload}}` replaced by the request body.
//!
//! Input: the template, a NUL byte, the payload (UTF-8, lossily).
//!
//! Properties: the prompt is the template's text between placeholders joined by the
//! payload, exactly (one pass: a payload holding `{{payload}}` is not expanded again; the
//! template's other braces are left alone), so its length is known in advance; a template
//! the API accepts always has the payload in its prompt.
#![no_main]

use libfuzzer_sys::fuzz_target;
use operator_core::domain::{render_prompt, validate_template, PAYLOAD_PLACEHOLDER};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (template, payload) = text.split_once('\0').unwrap_or((&text, ""));
    let prompt = render_prompt(template, payload);

    let pieces: Vec<&str> = template.split(PAYLOAD_PLACEHOLDER).collect();
    let slots = pieces.len() - 1;
    assert_eq!(
        prompt.len(),
        template.len() - slots * PAYLOAD_PLACEHOLDER.len() + slots * payload.len()
    );
    // Walk the prompt: template text, the payload verbatim, template text, ...
    let mut rest = prompt.as_str();
    for (i, piece) in pieces.iter().enumerate() {
        rest = rest
            .strip_prefix(piece)
            .unwrap_or_else(|| panic!("template text {i} is not where it belongs"));
        if i < slots {
            rest = rest
                .strip_prefix(payload)
                .unwrap_or_else(|| panic!("payload {i} is not where it belongs"));
        }
    }
    assert!(rest.is_empty());
    if slots == 0 {
        assert_eq!(prompt, template);
    }
    if validate_template(template).is_ok() {
        assert!(slots >= 1 && prompt.contains(payload));
    }
});
