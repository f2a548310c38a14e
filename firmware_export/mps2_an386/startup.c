/* Minimal startup for QEMU's mps2-an386 (Cortex-M4F): vector table, FPU on, .data / .bss set up,
 * command line and stdio through Arm semihosting (newlib's librdimon), faults end QEMU with an
 * error instead of hanging. Also a SysTick-based counter: under `qemu-system-arm -icount shift=0`
 * one instruction advances the virtual clock by 1 ns, so SysTick at the 25 MHz CPU clock ticks
 * once per 40 executed instructions (QEMU counts instructions, not cycles). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__[], __data_start__[], __data_end__[];
extern const uint32_t __zero_table_start__[], __zero_table_end__[];
extern uint32_t __stack_top__[];
extern int main(int argc, char** argv);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

static int semihost(int op, void* arg) {
  register int r0 __asm__("r0") = op;
  register void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static char g_cmdline[1024];
static char* g_argv[64];

static int command_line(void) {
  struct { char* buffer; int length; } block = {g_cmdline, sizeof g_cmdline - 1};
  if (semihost(0x15 /* SYS_GET_CMDLINE */, &block) != 0) return 0;
  g_cmdline[block.length] = 0;
  int argc = 0;
  for (char* p = g_cmdline; *p && argc < 63;) {
    while (*p == ' ') *p++ = 0;
    if (!*p) break;
    g_argv[argc++] = p;
    while (*p && *p != ' ') ++p;
  }
  g_argv[argc] = 0;
  return argc;
}

/* What crti / crtn / crtbegin give a program, left out with -nostartfiles: __libc_init_array
 * calls _init / _fini, C++ static destructors register with __dso_handle */
void _init(void) {}
void _fini(void) {}
void* __dso_handle = 0;

void Reset_Handler(void) {
  *(volatile uint32_t*)0xE000ED88 |= 0xFu << 20; /* CPACR: CP10, CP11 full access (FPU) */
  __asm__ volatile("dsb\n isb");
  for (uint32_t *src = __data_load__, *dst = __data_start__; dst < __data_end__;) *dst++ = *src++;
  for (const uint32_t* entry = __zero_table_start__; entry < __zero_table_end__; entry += 2) {
    for (uint32_t* p = (uint32_t*)entry[0]; p < (uint32_t*)entry[1]; ++p) *p = 0;
  }
  initialise_monitor_handles();
  __libc_init_array();
  exit(main(command_line(), g_argv));
}

static void fault(const char* what) {
  semihost(0x04 /* SYS_WRITE0 */, (void*)what);
  uint32_t block[2] = {0x20023 /* ADP_Stopped_RunTimeErrorUnknown */, 3};
  semihost(0x18 /* SYS_EXIT */, block);
  for (;;) {}
}

void HardFault_Handler(void) { fault("mps2-an386: HardFault\n"); }
void Default_Handler(void) { fault("mps2-an386: unexpected exception\n"); }

static volatile uint32_t g_systick_wraps;
void SysTick_Handler(void) { ++g_systick_wraps; }

#define SYST_CSR (*(volatile uint32_t*)0xE000E010)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018)

/* Start the free-running SysTick (processor clock, interrupt on each 2^24 wrap). */
void mps2_counter_start(void) {
  SYST_RVR = 0xFFFFFF;
  SYST_CVR = 0;
  g_systick_wraps = 0;
  SYST_CSR = 7; /* enable, interrupt, processor clock */
  while (SYST_CVR == 0) {
  } /* the first tick reloads 0xFFFFFF */
  g_systick_wraps = 0;
}

/* SysTick ticks since mps2_counter_start (25 MHz: 40 instructions each under -icount shift=0). */
uint64_t mps2_counter_ticks(void) {
  uint32_t wraps, value;
  do {
    wraps = g_systick_wraps;
    value = SYST_CVR;
  } while (wraps != g_systick_wraps);
  return ((uint64_t)wraps << 24) + (0xFFFFFFu - value);
}

typedef void (*handler_t)(void);
__attribute__((section(".isr_vector"), used)) const handler_t g_vectors[48] = {
    (handler_t)__stack_top__, Reset_Handler, Default_Handler, HardFault_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
    [16 ... 47] = Default_Handler};
