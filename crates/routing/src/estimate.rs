//! Token estimates made before a request is sent.

use orchestra_core::{ChatRequest, Content, ContentPart};

/// Tokens a request's prompt is likely to cost: about four characters per token (OpenAI's
/// rule of thumb for English), plus a few tokens of framing per message. It errs high for
/// code and non-Latin scripts, which is the safe side for context-length checks and cost
/// estimates.
///
/// ```
/// use orchestra_core::{ChatRequest, Message};
/// use orchestra_routing::estimate_prompt_tokens;
///
/// let request = ChatRequest::new(vec![Message::user("What is the capital of France?")]);
/// assert_eq!(estimate_prompt_tokens(&request), 12);
/// ```
pub fn estimate_prompt_tokens(request: &ChatRequest) -> u32 {
    const FRAMING_TOKENS_PER_MESSAGE: usize = 4;
    let chars: usize = request
        .messages
        .iter()
        .map(|message| match &message.content {
            Some(Content::Text(text)) => text.chars().count(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => text.chars().count(),
                    // An image costs hundreds of tokens; count a conservative block.
                    _ => 1_000,
                })
                .sum(),
            _ => 0,
        })
        .sum();
    let tokens = chars.div_ceil(4) + FRAMING_TOKENS_PER_MESSAGE * request.messages.len();
    u32::try_from(tokens).unwrap_or(u32::MAX)
}
