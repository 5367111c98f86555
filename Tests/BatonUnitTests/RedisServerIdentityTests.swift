@testable import BatonRedis
import BatonSupport
import Synchronization
import Testing

/// The first connection to a new server tells the listeners (the fencing floor carries this
/// process's grants into it); a second connection to the same server must not send its
/// first command before they are done, or its acquire runs with guardrails from before the
/// carry (issue 17, the pipeline's chaos run).
@Suite struct RedisServerIdentityTests {
    @Test func aSecondConnectionToTheNewServerWaitsForTheChangesListeners() {
        let identity = RedisServerIdentity()
        identity.observe("server-a")
        let inListener = WakeSignal(), release = WakeSignal()
        let carried = Atomic<Bool>(false)
        identity.onChange { _, _ in
            inListener.signal()
            _ = release.wait(timeoutMs: 5_000)
            carried.store(true, ordering: .releasing)
        }
        let firstDone = WakeSignal()
        BackgroundThread.start(name: "first-connection") {
            identity.observe("server-b")
            firstDone.signal()
        }
        #expect(inListener.wait(timeoutMs: 5_000))
        let secondSawCarry = Mutex<Bool?>(nil)
        let secondDone = WakeSignal()
        BackgroundThread.start(name: "second-connection") {
            identity.observe("server-b")
            let seen = carried.load(ordering: .acquiring)
            secondSawCarry.withLock { $0 = seen }
            secondDone.signal()
        }
        // The second connection is still waiting while the listener works.
        #expect(!secondDone.wait(timeoutMs: 200), "a second connection went on before the change's listeners were done")
        release.signal()
        #expect(secondDone.wait(timeoutMs: 5_000) && firstDone.wait(timeoutMs: 5_000))
        #expect(secondSawCarry.withLock { $0 } == true)
        #expect(identity.runId == "server-b")
    }
}
