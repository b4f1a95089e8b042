import VigilCore
import XCTest

final class VersionTests: XCTestCase {
    func testCoreVersionIsSemanticVersion() throws {
        let version = coreVersion()

        // MAJOR.MINOR.PATCH with an optional pre-release part, as Cargo requires.
        let pattern = #"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"#
        XCTAssertNotNil(
            version.range(of: pattern, options: .regularExpression),
            "core version '\(version)' is not of the form MAJOR.MINOR.PATCH"
        )
    }
}
