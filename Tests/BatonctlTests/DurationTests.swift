import Testing
@testable import batonctl

@Suite struct PlaceholderTests {
    @Test func builds() { #expect(Bool(true)) }
}
