import ArgumentParser

/// batonctl's exit-code contract (documented in `batonctl --help` and the README).
///
/// When the command ran, batonctl exits with the command's own code (128 + N when it
/// was killed by signal N). Otherwise:
enum Exit {
    /// Something else went wrong: bad token, bad request, an answer batonctl does not
    /// understand, a Jellyfin error.
    static let error: Int32 = 1
    /// Usage error (ArgumentParser's validation failure code).
    static let usage: Int32 = 64
    /// Baton was unavailable and the policy says skip (or fewer than N consecutive
    /// failures so far): retry at the next schedule.
    static let unavailable: Int32 = 69
    /// Skipped: not leader, task held by someone else, slot already done, or completed
    /// recently. `--skipped-exit` replaces it (for example 0 for cron).
    static let skipped: Int32 = 75
    /// The lease or claim was lost while the command ran; the command was killed.
    static let lost: Int32 = 76

    static let helpText = """
    EXIT CODES
      N   the command's own exit code when it ran (128+S: killed by signal S)
      75  skipped: not leader, lease or task held, slot done, recently completed
          (--skipped-exit N changes it; --skipped-exit 0 for cron)
      76  the lease or claim was lost while the command ran: it was killed
      69  Baton unavailable and the command was not run: --on-unavailable skip,
          or fewer than --breaker-threshold failures in a row so far
      64  usage error
      1   other error (bad token, rejected request, Jellyfin error)
    """
}
