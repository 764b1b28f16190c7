// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * C++ test program of the unwinder: thread B blocks for good on a std::mutex
 * in a method of a class template in a namespace, so that frame names must
 * be demangled ("ns::Locker<int>::lock_and_wait(int)"). "LINE:name" comments
 * mark the lines the stack must show. Prints "ready PID TID".
 */
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace ns {

template <typename T> class Locker {
    public:
	explicit Locker(std::mutex &m) : m_(m)
	{
	}

	__attribute__((noipa)) T lock_and_wait(T v)
	{
		value_ += v;
		m_.lock(); /* LINE:cxx_lock */
		value_ = value_ + 1;
		m_.unlock();
		return value_;
	}

    private:
	std::mutex &m_;
	volatile T value_ = 0;
};

} // namespace ns

static std::mutex mtx;
static std::atomic<pid_t> tid_b{ 0 };

__attribute__((noipa)) static void run_b()
{
	ns::Locker<int> locker(mtx);

	tid_b = gettid();
	locker.lock_and_wait(3); /* LINE:cxx_call */
	tid_b = 0;
}

int main()
{
	mtx.lock();
	std::thread t(run_b);
	while (!tid_b)
		usleep(1000);
	printf("ready %d %d\n", getpid(), (int)tid_b);
	fflush(stdout);
	for (;;)
		pause();
}
