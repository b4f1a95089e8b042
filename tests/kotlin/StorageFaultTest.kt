import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * A corrupt store file is moved aside and reported, and capture continues in a fresh one;
 * a paused store refuses calls until it is resumed.
 */
class StorageFaultTest {
    private lateinit var folder: File

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-storage").toFile()
    }

    @After
    fun deleteFolder() {
        folder.deleteRecursively()
    }

    private fun open(path: File): Vigil = Vigil.open(
        path.path,
        VigilConfig(
            deviceId = "kotlin-storage",
            guardId = "kotlin-guard",
            serverUrl = "http://127.0.0.1:9",
            enrollmentCode = "code",
        ),
    )

    @Test
    fun corruptStoreIsMovedAsideAndReported() = runBlocking {
        val path = File(folder, "device.db")
        path.writeBytes(ByteArray(64 * 1024) { 0x5A })

        val device = open(path)
        val quarantined = assertNotNull(device.quarantinedAtOpen())
        assertTrue(quarantined.path.contains("device.db.corrupt-"), quarantined.path)
        assertEquals(64 * 1024L, File(quarantined.path).length(), "the corrupt file is kept")
        device.logIncident("door", Severity.LOW, "Open")
        assertEquals(1uL, device.pending().captured)
        device.close()

        val reopened = open(path)
        assertNull(reopened.quarantinedAtOpen())
        assertEquals(listOf(quarantined.path), reopened.quarantinedFiles())
        reopened.close()
    }

    @Test
    fun pausedDeviceRefusesCallsUntilResumed() = runBlocking {
        val device = open(File(folder, "device.db"))
        device.logIncident("door", Severity.LOW, "Open")

        device.pause()
        assertFailsWith<VigilException.InvalidState> {
            device.logIncident("door", Severity.LOW, "Closed")
        }

        device.resume()
        device.logIncident("door", Severity.LOW, "Closed")
        assertEquals(2uL, device.pending().captured)
        device.close()
    }
}
