//! The "Did you mean" hint for an unknown option name.

use super::OptionName;

/// Returns the option that `written` most likely meant, if any.
pub(crate) fn suggest_option(written: &str) -> Option<OptionName> {
    // Case, `_` and `-` differences: `redirectTo`, `REDIRECT_TO`, `Role`.
    let normalized: String = written
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();

    for option in OptionName::ALL {
        if normalized == option.name().replace('_', "") {
            return Some(option);
        }
    }

    // Other words for "when signed in": `redirect_if_authed`, `redirect_if_logged_in`.
    let signed_in_words = ["authenticated", "authed", "loggedin", "signedin"];
    if normalized.starts_with("redirectif")
        || signed_in_words.iter().any(|w| normalized.contains(w))
    {
        return Some(OptionName::RedirectIfAuthenticated);
    }

    // Other words for a rule of the application's own: `predicate`, `authorize`.
    let check_words = [
        "check",
        "predicate",
        "authoriz",
        "authoris",
        "rule",
        "guard",
    ];
    if check_words.iter().any(|w| normalized.starts_with(w)) {
        return Some(OptionName::Check);
    }

    // Other words for a role or scope: `roles`, `has_role`, `required_scope`.
    if normalized.contains("role") {
        return Some(OptionName::Role);
    }
    if normalized.contains("scope") {
        return Some(OptionName::Scope);
    }

    // Typos: `redirct_to`, `redirect_if_authenticted`, `scpoe`. A short name
    // gets a smaller budget, so that `type` does not suggest `role`.
    for option in OptionName::ALL {
        let target = option.name().replace('_', "");
        let budget = if target.len() <= 5 { 1 } else { 2 };
        if edit_distance(&normalized, &target) <= budget {
            return Some(option);
        }
    }

    // Other words for the target: `redirect`, `redirect_url`, `login_path`, `return_to`.
    let target_words = ["redirect", "login", "signin", "returnto"];
    if target_words.iter().any(|w| normalized.starts_with(w)) {
        return Some(OptionName::RedirectTo);
    }

    None
}

/// Returns the edit distance between `a` and `b`, counted in chars: the
/// fewest insertions, deletions, substitutions and swaps of two adjacent
/// chars that turn one into the other (optimal string alignment distance).
/// A swap counts once, so `roel` is one edit from `role`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();

    // distance[i][j] is the distance between the first i chars of `a` and
    // the first j chars of `b`.
    let mut distance = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in distance.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in distance[0].iter_mut().enumerate() {
        *cell = j;
    }

    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = distance[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let deletion = distance[i - 1][j] + 1;
            let insertion = distance[i][j - 1] + 1;
            let mut best = substitution.min(deletion).min(insertion);

            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(distance[i - 2][j - 2] + 1);
            }
            distance[i][j] = best;
        }
    }

    distance[a.len()][b.len()]
}
