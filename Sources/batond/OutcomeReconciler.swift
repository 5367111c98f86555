import BatonCore
import BatonSupport

/// Settles grants sent to Redis without an answer (see ``UnknownOutcomes``) every 200 ms:
/// a tenure its caller holds is written to the history, a claim nobody learned of is voided.
final class OutcomeReconciler: Sendable {
    let election: LeaderElection
    let tasks: TaskCoordinator

    init(election: LeaderElection, tasks: TaskCoordinator) {
        self.election = election
        self.tasks = tasks
    }

    func start() {
        BackgroundThread.start(name: "baton-outcomes") { [self] in
            while true {
                BackgroundThread.sleep(ms: 200)
                guard self.election.unknownOutcomes.count + self.tasks.unknownOutcomes.count > 0 else { continue }
                let recorded = self.election.reconcileUnknownOutcomes()
                let voided = self.tasks.reconcileUnknownOutcomes()
                if recorded + voided > 0 {
                    Log.current.warn("settled grants whose answer was lost (timeout after sending): tenures recorded in the history, claims nobody learned of voided",
                                     ["tenures_recorded": .int(Int64(recorded)), "claims_voided": .int(Int64(voided))])
                }
            }
        }
    }
}
