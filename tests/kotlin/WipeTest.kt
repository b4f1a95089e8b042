import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.AlertKind
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * A local wipe deletes the store and its folder of attachments, refuses while a panic
 * alert is undelivered unless forced, and leaves the device object unusable.
 */
class WipeTest {
    private lateinit var folder: File

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-wipe").toFile()
    }

    @After
    fun deleteFolder() {
        folder.deleteRecursively()
    }

    // Port 9 (discard) on loopback refuses connections, so nothing is ever delivered.
    private fun open(): Vigil = Vigil.open(
        File(folder, "device.db").path,
        VigilConfig(
            deviceId = "kotlin-wipe",
            guardId = "kotlin-guard",
            serverUrl = "http://127.0.0.1:9",
            enrollmentCode = "code",
        ),
    )

    @Test
    fun wipeDeletesStoreAndLocksDevice() = runBlocking {
        val device = open()
        device.logIncident("door", Severity.LOW, "Open")
        val attachments = File(folder, "attachments").apply { mkdir() }
        File(attachments, "photo.bin").writeBytes(byteArrayOf(1, 2, 3))

        device.wipe(false)

        assertFalse(File(folder, "device.db").exists())
        assertFalse(attachments.exists())
        assertFailsWith<VigilException.Wiped> {
            device.logIncident("door", Severity.LOW, "Closed")
        }
        assertFailsWith<VigilException.Wiped> { device.wipe(true) }
        device.close()

        val fresh = open()
        assertEquals(0uL, fresh.pending().captured)
        fresh.close()
    }

    @Test
    fun undeliveredPanicNeedsForce() = runBlocking {
        val device = open()
        device.raiseAlert(AlertKind.PANIC)

        assertFailsWith<VigilException.InvalidState> { device.wipe(false) }
        assertEquals(1uL, device.pending().captured, "the refused wipe deleted nothing")

        device.wipe(true)
        assertFalse(File(folder, "device.db").exists())
        device.close()
    }
}
