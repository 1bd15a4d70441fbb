//! Flags from the environment: every flag can also be set from it, so a
//! pod's manifest can set them from a ConfigMap or the Downward API.

/// `BROKERBENCH_` and a flag's long name in capitals, `-` as `_`
/// (`--pace` from `BROKERBENCH_PACE`, `--warmup-seconds` from
/// `BROKERBENCH_WARMUP_SECONDS`). A flag on the command line wins.
pub const ENV_PREFIX: &str = "BROKERBENCH_";

/// The environment variable of flag `--long`.
pub fn env_name(long: &str) -> String {
    format!("{ENV_PREFIX}{}", long.to_uppercase().replace('-', "_"))
}

/// Writes a command's text to stdout; a reader that stopped reading
/// (`| head -1`) is not an error (print! would panic on the broken pipe).
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
