//! The direct scenario: no SUT; the receiver is the target.

/// The sender's target for the direct scenario: the receiver itself.
pub fn target_url(receiver_url: &str) -> String {
    receiver_url.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn direct_targets_the_receiver() {
        assert_eq!(
            super::target_url("http://127.0.0.1:5/"),
            "http://127.0.0.1:5/"
        );
        assert_eq!("direct".parse::<crate::Sut>().unwrap(), crate::Sut::Direct);
        assert_eq!(
            "broker-imc".parse::<crate::Sut>().unwrap().to_string(),
            "broker-imc"
        );
        let err = "kafka".parse::<crate::Sut>().unwrap_err().to_string();
        assert!(err.contains("unknown SUT \"kafka\""), "{err}");
    }
}
