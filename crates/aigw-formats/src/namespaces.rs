//! Responses tool namespaces (`{"type":"namespace","name":"crm","tools":[…]}`,
//! which Codex CLI groups its sub-agent and MCP tools in) on upstreams that
//! have none: each function of a namespace is declared as
//! `{namespace}__{name}`, a call the client made in a namespace is sent under
//! that name, and a call of such a name comes back to the client as `name`
//! in `namespace`.

/// Joins a namespace and a function name.
pub(crate) const SEPARATOR: &str = "__";

/// The longest function name OpenAI and Anthropic accept.
pub(crate) const MAX_NAME: usize = 64;

/// The name a function of `namespace` is declared under upstream.
pub(crate) fn qualify(namespace: &str, name: &str) -> String {
    let mut out = String::with_capacity(namespace.len() + SEPARATOR.len() + name.len());
    out.push_str(namespace);
    out.push_str(SEPARATOR);
    out.push_str(name);
    out
}

/// A function name from upstream as the client declared it: the namespace
/// among `namespaces` it was qualified with (the longest that fits), and
/// its own name. A name no namespace qualifies comes back whole.
pub(crate) fn split(name: String, namespaces: &[String]) -> (Option<String>, String) {
    let found = namespaces
        .iter()
        .filter(|ns| {
            name.len() > ns.len() + SEPARATOR.len()
                && name.starts_with(ns.as_str())
                && name[ns.len()..].starts_with(SEPARATOR)
        })
        .max_by_key(|ns| ns.len());
    match found {
        Some(ns) => {
            let own = name[ns.len() + SEPARATOR.len()..].to_owned();
            (Some(ns.clone()), own)
        }
        None => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_name_splits_back() {
        let namespaces = vec!["multi_agent_v1".to_owned(), "mcp__fs".to_owned()];
        let q = qualify("multi_agent_v1", "close_agent");
        assert_eq!(q, "multi_agent_v1__close_agent");
        assert_eq!(
            split(q, &namespaces),
            (Some("multi_agent_v1".to_owned()), "close_agent".to_owned())
        );
        assert_eq!(
            split("mcp__fs__read".to_owned(), &namespaces),
            (Some("mcp__fs".to_owned()), "read".to_owned()),
            "the longest namespace wins"
        );
        assert_eq!(
            split("exec_command".to_owned(), &namespaces),
            (None, "exec_command".to_owned())
        );
        assert_eq!(
            split("multi_agent_v1__".to_owned(), &namespaces),
            (None, "multi_agent_v1__".to_owned()),
            "an empty own name is no namespaced call"
        );
    }
}
