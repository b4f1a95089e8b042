import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException
import uniffi.vigil_ffi.passphraseKeyStore

/**
 * After a keystore reset the old store no longer opens, and a fresh store adopts its
 * sealed records and delivers them to a `vigil serve` process on loopback.
 */
class KeyLossRescueTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin-rescue").toFile()
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

    private fun config(deviceId: String) = VigilConfig(
        deviceId = deviceId,
        guardId = "kotlin-guard",
        serverUrl = serverUrl,
        enrollmentCode = ENROLLMENT_CODE,
        syncAttempts = 2u,
        retryBaseDelayMs = 20uL,
    )

    @Test
    fun adoptedRecordsAreDelivered() = runBlocking {
        val oldPath = File(folder, "old.db").path
        val old = Vigil.open(oldPath, config("kotlin-lost-kek"), passphraseKeyStore("key A"))
        old.syncNow()
        old.logIncident("intrusion", Severity.HIGH, "Fence cut near gate 3")
        old.logIncident("door", Severity.LOW, "Side door left open")
        old.close()
        assertFailsWith<VigilException.Locked> {
            Vigil.open(oldPath, config("kotlin-lost-kek"), passphraseKeyStore("key B"))
        }

        val fresh = Vigil.open(
            File(folder, "new.db").path,
            config("kotlin-after-reset"),
            passphraseKeyStore("key B"),
        )
        val report = fresh.adoptLockedEvidence(oldPath)
        assertEquals(2uL, report.adopted)
        assertEquals(0uL, report.unsealed)
        assertEquals(2uL, fresh.adoptedPending())

        val summary = fresh.syncNow()

        assertEquals(2uL, summary.acknowledged)
        assertEquals(0uL, fresh.adoptedPending())
        assertTrue(File(oldPath).exists(), "the locked file must be kept")
        fresh.close()
    }

    @Test
    fun missingLockedFileIsInvalidInput() {
        val fresh = Vigil.open(File(folder, "alone.db").path, config("kotlin-alone"), passphraseKeyStore("k"))
        val error = assertFailsWith<VigilException.InvalidInput> {
            runBlocking { fresh.adoptLockedEvidence(File(folder, "missing.db").path) }
        }
        assertEquals("locked_path", error.field)
        fresh.close()
    }

    companion object {
        const val ENROLLMENT_CODE = "kotlin-rescue-code"
    }
}
