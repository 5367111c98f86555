import BatonTestSupport
import Foundation
import Testing

/// Shared schedules (PUT/GET /schedules) and external runs through batond and PostgreSQL.
@Suite struct ScheduleHTTPTests {
    func put(_ c: HTTPClient, _ task: String, _ body: String) throws -> HTTPClient.Response {
        try c.request("PUT", "/schedules/\(task)", body: body)
    }

    @Test func aScheduleIsSavedRevisedAndNeverReplacedByEmpty() throws {
        let s = try Stack()
        #expect(try s.client.get("/schedules/RefreshLibrary").status == 404)
        let every12h = #"{"holder":"pod-a","triggers":[{"type":"interval","interval_ms":43200000}],"note":"first"}"#
        let created = try put(s.client, "RefreshLibrary", every12h)
        #expect(created.status == 200 && created["change"] as? String == "created" && created["revision"] as? Int == 1)
        let first = try #require(created["first_saved_at"] as? String)

        let same = try put(s.client, "RefreshLibrary", every12h.replacingOccurrences(of: "pod-a", with: "pod-b"))
        #expect(same["change"] as? String == "unchanged" && same["revision"] as? Int == 1 && same["saved_by"] as? String == "pod-a")

        let daily = #"{"holder":"pod-b","triggers":[{"type":"daily","time_of_day_ms":7200000,"max_runtime_ms":14400000},{"type":"startup"}]}"#
        let changed = try put(s.client, "RefreshLibrary", daily)
        #expect(changed["change"] as? String == "changed" && changed["revision"] as? Int == 2 && changed["first_saved_at"] as? String == first)

        let empty = try put(s.client, "RefreshLibrary", #"{"holder":"pod-a","triggers":[]}"#)
        #expect(empty.status == 400 && empty.isProblem && empty["field"] as? String == "triggers")

        let now = try s.client.get("/schedules/RefreshLibrary")
        let triggers = try #require(now["triggers"] as? [[String: Any]])
        #expect(triggers.count == 2 && triggers[0]["type"] as? String == "daily" && triggers[0]["time_of_day_ms"] as? Int == 7_200_000
                && triggers[0]["max_runtime_ms"] as? Int == 14_400_000 && triggers[1]["type"] as? String == "startup")
        let revisions = try #require(try s.client.get("/schedules/RefreshLibrary/revisions").json["revisions"] as? [[String: Any]])
        #expect(revisions.map { $0["revision"] as? Int } == [2, 1])
        #expect((revisions[1]["triggers"] as? [[String: Any]])?.first?["interval_ms"] as? Int == 43_200_000)
        #expect(revisions[1]["note"] as? String == "first")
        let all = try #require(try s.client.get("/schedules").json["schedules"] as? [[String: Any]])
        #expect(all.map { $0["task"] as? String } == ["RefreshLibrary"])
    }

    static let badBodies: [(String, String)] = [
        (#"{"holder":"a","triggers":[{"type":"interval"}]}"#, "triggers[0].interval_ms"),
        (#"{"holder":"a","triggers":[{"type":"daily","time_of_day_ms":86400000}]}"#, "triggers[0].time_of_day_ms"),
        (#"{"holder":"a","triggers":[{"type":"weekly","time_of_day_ms":0}]}"#, "triggers[0].day_of_week"),
        (#"{"holder":"a","triggers":[{"type":"weekly","time_of_day_ms":0,"day_of_week":"Funday"}]}"#, "triggers[0].day_of_week"),
        (#"{"holder":"a","triggers":[{"type":"startup","interval_ms":5000}]}"#, "triggers[0].interval_ms"),
        (#"{"holder":"a","triggers":[{"type":"hourly"}]}"#, "triggers[0].type"),
        (#"{"holder":"a","triggers":[{"type":"startup","MaxRuntimeTicks":1}]}"#, "triggers[0].MaxRuntimeTicks"),
        (#"{"holder":"a","triggers":"every 12h"}"#, "triggers"),
        (#"{"triggers":[{"type":"startup"}]}"#, "holder"),
        (#"{"holder":"a","triggers":[{"type":"startup"}],"extra":1}"#, "extra"),
    ]

    /// One stack for every case: each batond start costs about a second.
    @Test func badSchedulesAreRefusedNamingTheField() throws {
        let s = try Stack()
        for (body, field) in Self.badBodies {
            let r = try put(s.client, "RefreshLibrary", body)
            #expect(r.status == 400 && r.isProblem && r["field"] as? String == field, "\(body): \(r.status) \(r["field"] ?? "")")
        }
        #expect(try s.client.get("/schedules/RefreshLibrary").status == 404)
        #expect(try put(s.client, "bad%20name", #"{"holder":"a","triggers":[{"type":"startup"}]}"#)["field"] as? String == "task")
    }

    @Test func schedulesNeedTheToken() throws {
        let s = try Stack()
        #expect(try s.client.get("/schedules", auth: false).status == 401)
        #expect(try s.client.request("PUT", "/schedules/X", body: #"{"holder":"a","triggers":[{"type":"startup"}]}"#, auth: false).status == 401)
    }

    @Test func anExternalRunIsRecordedOnceAndIsTheLastRun() throws {
        let s = try Stack()
        let body = #"{"holder":"pod-b","status":"failed","started_at_ms":1796086800000,"finished_at_ms":1796086830000,"detail":"Jellyfin Failed: boom"}"#
        let first = try s.client.post("/tasks/RefreshPeople/runs", body)
        let again = try s.client.post("/tasks/RefreshPeople/runs", body)
        #expect(first.status == 200 && first["external"] as? Bool == true)
        #expect(first["run_id"] as? String == again["run_id"] as? String)
        var runs: [[String: Any]] = []
        #expect(try eventually {
            runs = try s.client.get("/tasks/RefreshPeople/runs").json["runs"] as? [[String: Any]] ?? []
            return !runs.isEmpty
        })
        #expect(runs.count == 1)
        #expect(runs.first?["external"] as? Bool == true && runs.first?["holder"] as? String == "pod-b" && runs.first?["status"] as? String == "failed"
                && runs.first?["duration_ms"] as? Int == 30_000 && runs.first?["detail"] as? String == "Jellyfin Failed: boom")
        let backwards = try s.client.post("/tasks/RefreshPeople/runs",
                                          #"{"holder":"pod-b","status":"succeeded","started_at_ms":1796086800000,"finished_at_ms":1796086700000}"#)
        #expect(backwards.status == 400 && backwards["field"] as? String == "finished_at_ms")
        let seconds = try s.client.post("/tasks/RefreshPeople/runs", #"{"holder":"pod-b","status":"succeeded","started_at_ms":1796086800,"finished_at_ms":1796086830}"#)
        #expect(seconds.status == 400 && seconds["field"] as? String == "started_at_ms")
    }
}
