//! Who may reach what, sans-IO: where a new INVITE goes. A number the config maps to a
//! flow reaches that flow without authentication; a registered extension is reached only
//! by an authenticated softphone (challenged like REGISTER), and then by a direct call that
//! rings it; any other number reaches the default flow — an IVR, never an operator or a
//! trunk, so a scanner dialling every number finds nothing it can abuse.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::acd::actor::AgentChange;
use crate::ivr::Flow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InviteRoute {
    /// Run this flow.
    Flow(String),
    /// A registered extension: authenticate the caller, then ring it.
    Extension(String),
    /// An agent's feature code (`*50` log in, `*51` log out, `*52` pause / unpause):
    /// authenticate the softphone, change its agent state, say the result.
    Feature(AgentChange),
}

/// The feature code dialled, if `number` is one.
pub fn feature_code(number: &str) -> Option<AgentChange> {
    match number {
        "*50" => Some(AgentChange::LogIn),
        "*51" => Some(AgentChange::LogOut),
        "*52" => Some(AgentChange::TogglePause("paused from the phone".into())),
        _ => None,
    }
}

/// The prompts a feature call may say (every one exists in every language).
pub const FEATURE_PROMPTS: [&str; 5] = [
    "agent_logged_in",
    "agent_logged_out",
    "agent_paused",
    "agent_unpaused",
    "agent_refused",
];

/// What the agent hears after a feature code: the state it is now in, or that it was
/// refused (not a member of any queue, or the change not possible now).
pub fn feature_prompt(change: &AgentChange, result: &Result<String, String>) -> &'static str {
    match (change, result.as_deref()) {
        (_, Err(_)) => "agent_refused",
        (AgentChange::LogIn, Ok(_)) => "agent_logged_in",
        (AgentChange::LogOut, Ok(_)) => "agent_logged_out",
        (AgentChange::TogglePause(_) | AgentChange::Pause(_), Ok("paused")) => "agent_paused",
        (AgentChange::TogglePause(_) | AgentChange::Pause(_) | AgentChange::Resume, Ok(_)) => {
            "agent_unpaused"
        }
    }
}

/// The flow of a feature call: say the prompt, hang up.
pub fn feature_flow(prompt: &str) -> Result<Arc<Flow>, crate::ivr::FlowErrors> {
    let text = format!(
        "start: say\nnodes:\n  say: {{ play: {prompt}, next: bye }}\n  bye: {{ hangup: true }}\n"
    );
    Flow::parse(Path::new("<feature code>"), &text).map(Arc::new)
}

/// Where an INVITE for `number` goes.
pub fn route_invite(
    number: &str,
    numbers: &BTreeMap<String, String>,
    default_flow: &str,
    is_registered_extension: bool,
) -> InviteRoute {
    if let Some(flow) = numbers.get(number) {
        return InviteRoute::Flow(flow.clone());
    }
    if let Some(change) = feature_code(number) {
        return InviteRoute::Feature(change);
    }
    if is_registered_extension {
        return InviteRoute::Extension(number.to_string());
    }
    InviteRoute::Flow(default_flow.to_string())
}

/// The extension an operator's transfer (REFER) may reach: the Refer-To user part, when it
/// is an extension number (1–15 digits). Anything else (a URI of another domain's user, a
/// name) is refused: a transfer never reaches a trunk. The queues add queue numbers here.
pub fn transfer_target(user: &str) -> Option<String> {
    let digits = !user.is_empty() && user.len() <= 15 && user.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| user.to_string())
}

/// The flow behind a queue's own number (`number` in `[queues.NAME]`): wait in the queue;
/// when it overflows, say no operator can answer now; after the operator, hang up.
/// Its name is [`queue_flow_name`].
pub fn queue_flow(queue: &str) -> Result<Flow, crate::ivr::FlowErrors> {
    let text = format!(
        "start: wait\nnodes:\n  wait:\n    queue: \"{queue}\"\n    on_overflow: sorry\n    next: bye\n  sorry: {{ play: operators_unavailable, next: bye }}\n  bye: {{ hangup: true }}\n"
    );
    let mut flow = Flow::parse(Path::new("<queue number>"), &text)?;
    flow.name = queue_flow_name(queue);
    Ok(flow)
}

/// The name under which a queue's number flow is known (not a file name: no clash).
pub fn queue_flow_name(queue: &str) -> String {
    format!("queue:{queue}")
}

/// The flow of a direct call to an extension: ring it for a minute; when it does not
/// answer, is busy, or hangs up, the call ends.
pub fn direct_call_flow(extension: &str) -> Result<Arc<Flow>, crate::ivr::FlowErrors> {
    let text = format!(
        "start: ring\nnodes:\n  ring:\n    dial: \"{extension}\"\n    ring_timeout: 60s\n    on_no_answer: end\n    next: end\n  end: {{ hangup: true }}\n"
    );
    Flow::parse(Path::new("<direct call>"), &text).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_codes_are_authenticated_agent_changes_and_say_the_result() {
        let none = BTreeMap::new();
        assert_eq!(
            route_invite("*50", &none, "main", false),
            InviteRoute::Feature(AgentChange::LogIn)
        );
        assert_eq!(feature_code("*51"), Some(AgentChange::LogOut));
        assert!(matches!(
            feature_code("*52"),
            Some(AgentChange::TogglePause(_))
        ));
        assert_eq!(feature_code("*53"), None);
        let pause = AgentChange::TogglePause(String::new());
        assert_eq!(feature_prompt(&pause, &Ok("paused".into())), "agent_paused");
        assert_eq!(
            feature_prompt(&pause, &Ok("available".into())),
            "agent_unpaused"
        );
        assert_eq!(
            feature_prompt(&AgentChange::LogIn, &Err("not a member".into())),
            "agent_refused"
        );
        for p in FEATURE_PROMPTS {
            assert!(feature_flow(p).is_ok());
        }
        assert!(queue_flow("support").is_ok());
    }

    #[test]
    fn a_transfer_reaches_extension_numbers_only() {
        assert_eq!(transfer_target("2002").as_deref(), Some("2002"));
        assert_eq!(transfer_target(""), None);
        assert_eq!(transfer_target("alice"), None);
        assert_eq!(transfer_target("+77011234567"), None);
        assert_eq!(transfer_target("1234567890123456"), None);
    }

    #[test]
    fn mapped_numbers_reach_their_flow_even_when_an_extension_has_the_same_number() {
        let numbers = BTreeMap::from([("2001".to_string(), "sales".to_string())]);
        assert_eq!(
            route_invite("2001", &numbers, "main", true),
            InviteRoute::Flow("sales".into())
        );
    }

    #[test]
    fn a_registered_extension_needs_authentication_and_anything_else_gets_the_default_flow() {
        let numbers = BTreeMap::new();
        assert_eq!(
            route_invite("2001", &numbers, "main", true),
            InviteRoute::Extension("2001".into())
        );
        assert_eq!(
            route_invite("2001", &numbers, "main", false),
            InviteRoute::Flow("main".into())
        );
        assert_eq!(
            route_invite("88005553535", &numbers, "main", false),
            InviteRoute::Flow("main".into())
        );
    }

    #[test]
    fn the_direct_call_flow_dials_the_extension() {
        let f = direct_call_flow("2001").unwrap();
        assert!(
            matches!(&f.node(f.start).action, crate::ivr::flow::NodeAction::Dial(d) if &*d.extension == "2001")
        );
    }
}
