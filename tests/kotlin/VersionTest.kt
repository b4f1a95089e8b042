import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import org.junit.Test
import uniffi.vigil_ffi.coreVersion

class VersionTest {
    @Test
    fun coreVersionMatchesCargoPackage() {
        val expected = System.getProperty("vigil.cargoVersion")
        assertNotNull(expected, "system property vigil.cargoVersion is not set; run the tests with scripts/test-kotlin.sh")

        assertEquals(expected, coreVersion())
    }

    @Test
    fun coreVersionIsSemanticVersion() {
        val version = coreVersion()

        assertTrue(SEMANTIC_VERSION.matches(version), "core version '$version' is not of the form MAJOR.MINOR.PATCH")
    }

    private companion object {
        // MAJOR.MINOR.PATCH with an optional pre-release part, as Cargo requires.
        val SEMANTIC_VERSION = Regex("""\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?""")
    }
}
