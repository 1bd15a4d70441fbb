//! What the sender and the receiver say of their clock when they end.

/// How a role's clock stood against the aggregator's at the start and the end.
pub fn print_clock(clock: Option<brokerbench_core::wire::ClockReport>) {
    let Some(c) = clock else { return };
    let ms = |ns: i64| ns as f64 / 1e6;
    eprintln!(
        "clock: {:+.3} ms ± {:.3} ms from the aggregator's at the start{}{}",
        ms(c.start.offset_ns),
        ms(c.start.uncertainty_ns as i64),
        if c.start.applied {
            ", corrected"
        } else {
            " (within the uncertainty: not corrected)"
        },
        c.end
            .map(|e| format!(
                "; {:+.3} ms at the end (drift {:+.3} ms)",
                ms(e.offset_ns),
                ms(e.offset_ns - c.start.offset_ns)
            ))
            .unwrap_or_default()
    );
}
