//! How contacts are shown where the whole value must not be: on pages, in messages, in
//! the audit log and in logs. (ID-card numbers: `identity::idcard::mask`.)

/// `138****5678`: the first three and the last four characters, for a number of at least 11
/// (a mainland mobile, or one with a country code); anything shorter shows nothing, since
/// three plus four would be most or all of it.
pub fn mask_phone(p: &str) -> String {
    let c: Vec<char> = p.chars().collect();
    if c.len() < 11 {
        return "***".into();
    }
    format!(
        "{}****{}",
        c[..3].iter().collect::<String>(),
        c[c.len() - 4..].iter().collect::<String>()
    )
}

/// `z***@example.edu.cn`
pub fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((user, domain)) if !user.is_empty() => {
            format!("{}***@{domain}", user.chars().next().unwrap_or('*'))
        }
        _ => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(mask_phone("19912341339"), "199****1339");
        assert_eq!(mask_phone("+8613800138000"), "+86****8000");
        assert_eq!(mask_phone("1234567"), "***");
        assert_eq!(mask_phone(""), "***");
    }

    #[test]
    fn emails() {
        assert_eq!(
            mask_email("zhangsan@stu.demo.edu.cn"),
            "z***@stu.demo.edu.cn"
        );
        assert_eq!(mask_email("@x.cn"), "***");
        assert_eq!(mask_email("nobody"), "***");
    }
}
