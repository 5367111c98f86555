@testable import BatonAPI
import BatonCore
import BatonTestSupport
import BatonHTTP
import Testing

/// Label values of `/metrics` come from closed sets, whatever clients send (issue 15,
/// item 1: 3,000 distinct 16 KB methods to `/nope` took `/metrics` to 52 MB).
@Suite struct MetricLabelTests {
    func metricsText(_ service: BatonService) -> String {
        String(decoding: service.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
    }

    @Test func unknownMethodsAre405Or501AndCountedAsOther() {
        let service = RouteSpecConsistencyTests.service()
        _ = metricsText(service)  // the /metrics route's own series
        let before = metricsText(service).utf8.count
        for i in 0..<300 {
            let method = "XMETHOD\(i)" + String(repeating: "A", count: 1_000) + "\u{1}\n"
            let response = service.handle(HTTPRequest(method: method, path: i % 2 == 0 ? "/nope" : "/leader"))
            #expect(response.status == (i % 2 == 0 ? 501 : 405))
            #expect(!String(decoding: response.body, as: UTF8.self).contains("XMETHOD"))
        }
        let text = metricsText(service)
        #expect(!text.contains("XMETHOD"))
        #expect(text.contains(#"baton_http_requests_total{route="unmatched",method="other",status="501"} 150"#))
        #expect(text.contains(#"baton_http_requests_total{route="unmatched",method="other",status="405"} 150"#))
        // One new series (and the /metrics calls themselves), not 300.
        #expect(text.utf8.count - before < 2_000, "metrics grew by \(text.utf8.count - before) bytes")
    }

    @Test func knownMethodsAndRoutePatternsStay() {
        let service = RouteSpecConsistencyTests.service()
        #expect(service.handle(HTTPRequest(method: "DELETE", path: "/leader")).status == 405)
        #expect(service.handle(HTTPRequest(method: "GET", path: "/no/such/\u{1}path")).status == 404)
        _ = service.handle(HTTPRequest(method: "GET", path: "/tasks/some-task/runs"))
        let text = metricsText(service)
        #expect(text.contains(#"route="unmatched",method="DELETE",status="405""#))
        #expect(text.contains(#"route="unmatched",method="GET",status="404""#))
        #expect(text.contains(#"route="/tasks/{task}/runs",method="GET""#))
        #expect(!text.contains("some-task") && !text.contains("no/such"))
        #expect(Metrics.methodLabel("get") == "other" && Metrics.methodLabel("POST") == "POST")
    }

    @Test func labelValuesAreEscapedForTheTextFormat() {
        let service = RouteSpecConsistencyTests.service(version: "1.0\"\\\n\u{1}\u{7F}\u{2028}x")
        let line = metricsText(service).split(separator: "\n").first { $0.hasPrefix("baton_build_info{") }
        #expect(line == #"baton_build_info{version="1.0\"\\\n\#u{FFFD}\#u{FFFD}\#u{FFFD}x"} 1"#)
        // Nothing but the 0x0A line ends: every line is a comment or a sample.
        for l in metricsText(service).split(separator: "\n") {
            #expect(l.hasPrefix("#") || l.hasPrefix("baton_"), "\(l)")
            #expect(!l.unicodeScalars.contains { $0.value < 0x20 })
        }
    }
}

/// Under Redis Cluster each master has its own breaker (``BreakerDomains``); a shard's outage
/// opens only its own, and `/metrics` must show it: the Redis alert matches
/// `baton_breaker_state{backend="redis",state=~"open|half_open"}`, whatever other labels.
@Suite struct ShardBreakerMetricsTests {
    @Test func anOpenShardBreakerIsExported() {
        let clock = ManualClock()
        let shards = BreakerDomains(primary: CircuitBreaker(backend: .redis, clock: clock)) { CircuitBreaker(backend: .redis, clock: clock) }
        let (service, _) = IncidentPageTests.service(clock: clock, shards: shards)
        let healthy = shards.breaker(for: "10.0.0.5:7000"), failing = shards.breaker(for: "10.0.0.6:7001")
        _ = healthy.run { () throws(BackendError) in 1 }
        for _ in 0..<3 { _ = failing.run { () throws(BackendError) -> Int in throw BackendError(.connect, "refused") } }
        let text = MetricLabelTests().metricsText(service)
        #expect(text.contains(#"baton_breaker_state{backend="redis",shard="10.0.0.6:7001",state="open"} 1"#))
        #expect(text.contains(#"baton_breaker_state{backend="redis",shard="10.0.0.5:7000",state="closed"} 1"#))
        #expect(text.contains(#"baton_breaker_state{backend="redis",state="closed"} 1"#))  // the primary: untouched
        #expect(text.contains(#"baton_backend_errors_total{backend="redis",shard="10.0.0.6:7001"} 3"#))
        #expect(text.contains(#"baton_breaker_opened_total{backend="redis",shard="10.0.0.6:7001"} 1"#))
    }
}
