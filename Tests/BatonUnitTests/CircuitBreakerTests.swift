import BatonCore
import BatonTestSupport
import Testing

@Suite struct CircuitBreakerTests {
    let clock = ManualClock()

    func failing(_ b: CircuitBreaker) -> CircuitBreaker.Outcome<Int> {
        b.run { () throws(BackendError) -> Int in throw BackendError(.connect, "down") }
    }

    func succeeding(_ b: CircuitBreaker) -> CircuitBreaker.Outcome<Int> {
        b.run { () throws(BackendError) -> Int in 7 }
    }

    @Test func opensAfterExactlyThresholdConsecutiveFailures() {
        let b = CircuitBreaker(backend: .redis, threshold: 3, cooldownMs: 1_000, clock: clock)
        guard case .failure(_, opened: false) = failing(b) else { Issue.record("first failure opened"); return }
        guard case .failure(_, opened: false) = failing(b) else { Issue.record("second failure opened"); return }
        #expect(b.state == .closed)
        guard case .failure(_, opened: true) = failing(b) else { Issue.record("third failure did not open"); return }
        #expect(b.state == .open)
        guard case .rejected = succeeding(b) else { Issue.record("open breaker let a call through"); return }
    }

    /// Watch re-reads and change-index reads (``CircuitBreaker/uncounted(_:)``) never open the
    /// breaker, never take its probe, and do not reach a backend whose breaker is open.
    @Test func uncountedCallsNeitherOpenNorProbe() {
        let b = CircuitBreaker(backend: .redis, threshold: 3, cooldownMs: 1_000, clock: clock)
        CircuitBreaker.uncounted { for _ in 0..<10 { _ = failing(b) } }
        #expect(b.state == .closed && b.snapshot().totalFailures == 0 && b.snapshot().consecutiveFailures == 0)
        _ = failing(b)
        _ = failing(b)
        guard case .success = CircuitBreaker.uncounted({ succeeding(b) }) else { Issue.record("closed breaker refused"); return }
        #expect(b.snapshot().consecutiveFailures == 2, "an uncounted success reset the count")
        _ = failing(b)
        #expect(b.state == .open)
        clock.advance(ms: 1_500)
        guard case .rejected = CircuitBreaker.uncounted({ succeeding(b) }) else { Issue.record("uncounted call took the probe"); return }
        #expect(b.state == .open)
        guard case .success = succeeding(b) else { Issue.record("the probe was gone"); return }
        #expect(b.state == .closed)
        // Counting resumes after the block, also on this thread.
        for _ in 0..<3 { _ = failing(b) }
        #expect(b.state == .open)
    }

    @Test func successResetsTheCount() {
        let b = CircuitBreaker(backend: .redis, threshold: 3, cooldownMs: 1_000, clock: clock)
        _ = failing(b)
        _ = failing(b)
        _ = succeeding(b)
        _ = failing(b)
        _ = failing(b)
        #expect(b.state == .closed)
        #expect(b.snapshot().consecutiveFailures == 2)
        #expect(b.snapshot().totalFailures == 4)
    }

    @Test func oneProbeAfterCooldownThenClosesOnSuccess() {
        let b = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 1_000, clock: clock)
        _ = failing(b)
        clock.advance(ms: 999)
        guard case .rejected = succeeding(b) else { Issue.record("probe before cooldown"); return }
        clock.advance(ms: 1)
        guard case .success(7) = succeeding(b) else { Issue.record("probe not let through"); return }
        #expect(b.state == .closed)
        #expect(b.snapshot().timesOpened == 1)
    }

    @Test func failedProbeReopensForAnotherCooldown() {
        let b = CircuitBreaker(backend: .redis, threshold: 2, cooldownMs: 1_000, clock: clock)
        _ = failing(b)
        _ = failing(b)
        clock.advance(ms: 1_000)
        guard case .failure(_, opened: true) = failing(b) else { Issue.record("failed probe did not keep it open"); return }
        #expect(b.state == .open)
        clock.advance(ms: 500)
        guard case .rejected = succeeding(b) else { Issue.record("cooldown not restarted"); return }
    }

    @Test func onlyOneProbeWhileHalfOpen() {
        let b = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 10, clock: clock)
        _ = failing(b)
        clock.advance(ms: 10)
        // The probe is in flight while another call arrives.
        let outcome = b.run { () throws(BackendError) -> Int in
            if case .rejected = succeeding(b) { return 1 }
            return 0
        }
        guard case .success(1) = outcome else { Issue.record("second call got through during the probe"); return }
    }
}

/// A misconfiguration is an answer from a reachable server: it must never open the
/// breaker (whose open state grants everyone), and it closes one left open by an outage.
struct MisconfigurationBreakerTests {
    @Test func misconfigurationNeverOpensAndClosesAfterAnOutage() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 1_000, clock: clock)
        for _ in 0..<5 {
            let outcome = breaker.run { () throws(BackendError) -> Int in throw BackendError(misconfigured: .aclDenied, "NOPERM") }
            guard case .failure(let e, let opened) = outcome else { Issue.record("expected failure"); return }
            #expect(!opened && e.misconfiguration == .aclDenied)
        }
        #expect(breaker.state == .closed)
        _ = breaker.run { () throws(BackendError) -> Int in throw BackendError(.connect, "refused") }
        #expect(breaker.state == .open)
        clock.advance(ms: 1_000)
        _ = breaker.run { () throws(BackendError) -> Int in throw BackendError(misconfigured: .isSentinel, "sentinel") }
        #expect(breaker.state == .closed)
    }
}

/// A new backend announced (a Sentinel failover) lets the next call probe at once, even
/// when the probe in flight at that moment then fails.
struct ProbeNowTests {
    @Test func aProbeFailingAfterTheAnnouncementDoesNotRestartTheCooldown() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 5_000, clock: clock)
        _ = breaker.run { () throws(BackendError) -> Int in throw BackendError(.timeout, "hung") }
        #expect(breaker.state == .open)
        clock.advance(ms: 5_000)
        _ = breaker.run { () throws(BackendError) -> Int in
            breaker.allowProbeNow()  // the failover is seen while this probe still waits on the old master
            throw BackendError(.timeout, "hung")
        }
        #expect(breaker.state == .open)
        guard case .success(1) = breaker.run({ () throws(BackendError) -> Int in 1 }) else {
            Issue.record("the next call should have probed at once")
            return
        }
        #expect(breaker.state == .closed)
    }
}
