import java.io.File
import java.nio.file.Files
import java.util.Base64
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.RecordSyncState
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * Records sealed to the SOC's key: from the enrollment reply by default, or from a key the
 * app is provisioned with, against a `vigil serve` process on loopback.
 */
class SealedRecordTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin-sealed").toFile()
        val port = freeLoopbackPort()
        serverUrl = "http://127.0.0.1:$port"
        server = startVigilServe(folder, port, ENROLLMENT_CODE)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private fun config(deviceId: String, socPublicKey: String? = null) = VigilConfig(
        deviceId = deviceId,
        guardId = "kotlin-guard",
        serverUrl = serverUrl,
        enrollmentCode = ENROLLMENT_CODE,
        syncAttempts = 2u,
        retryBaseDelayMs = 20uL,
        socPublicKey = socPublicKey,
    )

    @Test
    fun recordsSealedToEnrolledKeyAreAccepted() = runBlocking {
        val device = Vigil.open(File(folder, "enrolled.db").path, config("kotlin-sealed-1"))
        val incident = device.logIncident("intrusion", Severity.HIGH, "Fence cut near gate 3")

        val summary = device.syncNow()

        assertEquals(0uL, summary.rejected)
        assertEquals(RecordSyncState.ACKNOWLEDGED, device.recordState(incident))
        device.close()
    }

    @Test
    fun configuredSocKeyReplacesEnrollmentKey() = runBlocking {
        // A valid X25519 key that is not the server's: the server cannot open the boxes.
        val otherKey = Base64.getUrlEncoder().withoutPadding().encodeToString(ByteArray(32) { 9 })
        val device = Vigil.open(File(folder, "pinned.db").path, config("kotlin-sealed-2", otherKey))
        val incident = device.logIncident("intrusion", Severity.HIGH, "Van without plates at the dock")

        val summary = device.syncNow()

        assertEquals(1uL, summary.rejected)
        assertEquals(RecordSyncState.REJECTED, device.recordState(incident))
        device.close()
    }

    @Test
    fun invalidSocKeyIsInvalidInput() {
        val error = assertFailsWith<VigilException.InvalidInput> {
            Vigil.open(File(folder, "bad-key.db").path, config("kotlin-sealed-3", "not-a-key"))
        }
        assertEquals("soc_public_key", error.field)
    }

    companion object {
        const val ENROLLMENT_CODE = "kotlin-sealed-code"
    }
}
